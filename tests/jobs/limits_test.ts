import assert from "node:assert/strict";
import { defineJob } from "../../jobs/define.ts";
import { take } from "../../db/rate_limits.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { waitFor } from "../process.ts";
import { keyedOne, rated, ratedPerKey } from "../fixtures/test_jobs.ts";
import { jobsDatabase, runs, stop, workers } from "./_workers.ts";
import { z } from "zod";

Deno.test("take() grants up to the limit per window, and a new window after it ends", async () => {
  await using db = await migratedDatabase();
  const window = { limit: 10, windowSeconds: 0.5 };
  assert.equal((await take(db.sql, "t", { want: 7, ...window })).granted, 7);
  assert.equal((await take(db.sql, "t", { want: 7, ...window })).granted, 3);
  const spent = await take(db.sql, "t", { want: 1, ...window });
  assert.equal(spent.granted, 0);
  await new Promise((r) => setTimeout(r, Math.max(0, spent.resetsAt.getTime() - Date.now()) + 50));
  assert.equal((await take(db.sql, "t", { want: 12, ...window })).granted, 10);
});

Deno.test("defineJob() refuses limits that cannot hold", () => {
  const base = { schema: z.object({}), handler() {} };
  assert.throws(
    () => defineJob({ ...base, name: "bad-a", concurrency: { limit: 0 } }),
    /bad-a: concurrency.limit must be a whole number of at least 1, got 0/,
  );
  assert.throws(
    () => defineJob({ ...base, name: "bad-b", rateLimit: { limit: 2, perSeconds: 0 } }),
    /bad-b: rateLimit.perSeconds must be a positive number of seconds, got 0/,
  );
});

Deno.test("one at a time per key across three workers: 500 jobs on 10 keys never overlap", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  for (let i = 0; i < 500; i++) {
    await keyedOne.delay({ key: `j${i}`, grp: `g${i % 10}`, ms: 10 });
  }
  const procs = await workers(db, 3);
  await waitFor(async () => (await runs(db)).length === 500, 90_000).catch((error) => {
    throw new Error(`${error.message}\n${procs.map((p) => p.output()).join("\n").slice(-3000)}`);
  });
  await stop(procs);
  const all = await runs(db);
  const overlaps: string[] = [];
  for (let g = 0; g < 10; g++) {
    const mine = all.filter((r) => r.grp === `g${g}`);
    assert.equal(mine.length, 50);
    for (let i = 1; i < mine.length; i++) {
      if (mine[i]!.started_at < mine[i - 1]!.finished_at) {
        overlaps.push(`${mine[i - 1]!.key} and ${mine[i]!.key} in g${g}`);
      }
    }
  }
  assert.deepEqual(overlaps, []);
  assert.equal(new Set(all.map((r) => r.pid)).size, 3, "every worker took part");
});

Deno.test("20 per second across three workers holds within 10% over 10 s; none fail or retry", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  for (let i = 0; i < 400; i++) await rated.delay({ key: `r${i}` });
  const procs = await workers(db, 3);
  await waitFor(async () => (await runs(db)).length >= 240, 30_000);
  await stop(procs);
  const all = await runs(db);
  const first = all[0]!.started_at.getTime();
  const inTen = all.filter((r) => r.started_at.getTime() < first + 10_000).length;
  assert.ok(inTen >= 180 && inTen <= 220, `${inTen} started in the first 10 s`);
  const [burned] = await db.sql`
    select count(*)::int as n from pgboss.job where name = 'test-rated' and retry_count > 0`;
  assert.equal(burned!.n, 0, "waiting for the rate used no retry");
});

Deno.test("a per-key rate: 5 per second for each key, the others keep flowing", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  // 30 jobs on a busy key, 10 on a quiet one, interleaved.
  for (let i = 0; i < 40; i++) {
    await ratedPerKey.delay({ key: `k${i}`, grp: i % 4 === 3 ? "quiet" : "busy" });
  }
  const procs = await workers(db, 2);
  await waitFor(async () => (await runs(db)).length === 40, 30_000);
  await stop(procs);
  const all = await runs(db);
  const startsOf = (grp: string) =>
    all.filter((r) => r.grp === grp).map((r) => r.started_at.getTime());
  const busy = startsOf("busy");
  // Windows are fixed (from a key's first start), so two can meet within a second: one second
  // never holds more than two windows' worth, and 30 starts span at least five windows.
  for (let i = 10; i < busy.length; i++) {
    assert.ok(
      busy[i]! - busy[i - 10]! >= 900,
      `11 busy starts within ${busy[i]! - busy[i - 10]!} ms`,
    );
  }
  assert.ok(busy.at(-1)! - busy[0]! >= 4000, `30 busy starts in ${busy.at(-1)! - busy[0]!} ms`);
  assert.ok(
    Math.max(...startsOf("quiet")) < Math.max(...busy),
    "the quiet key was not held behind the busy one",
  );
  const [burned] = await db.sql`
    select count(*)::int as n from pgboss.job where name = 'test-rated-key' and retry_count > 0`;
  assert.equal(burned!.n, 0);
});

Deno.test("GET /jobs/queues shows the limits the code declares", async () => {
  const { db, app } = await jobsDatabase();
  await using _ = db;
  const admin = await makeUser(db.sql, { superuser: true });
  const res = await call(app, "/api/v1/jobs/queues", {
    headers: bearer(await login(app, admin.email, admin.password)),
  });
  const byName = (name: string) => res.body.data.find((q: { name: string }) => q.name === name);
  assert.deepEqual(byName("test-keyed").concurrency, { limit: 1, per_key: true });
  assert.deepEqual(byName("test-rated").rate_limit, { limit: 20, per_seconds: 1, per_key: false });
  assert.deepEqual(byName("test-rated-key").rate_limit, {
    limit: 5,
    per_seconds: 1,
    per_key: true,
  });
  assert.equal(byName("test-record").concurrency, null);
});
