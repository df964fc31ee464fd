import assert from "node:assert/strict";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { recordEffect, TEST_JOBS } from "../fixtures/test_jobs.ts";

async function jobsDatabase(): Promise<TestDatabase> {
  const db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  await testApp(db, { jobs: [...JOBS, ...TEST_JOBS] }); // binds a job client for .delay()
  return db;
}

async function waiting(db: TestDatabase) {
  return await db.sql<{ id: string; data: { key: string }; wait: number }[]>`
    select id, data, extract(epoch from start_after - now())::float8 as wait
    from pgboss.job where name = 'test-record' and state = 'created'`;
}

Deno.test("debounce: 50 rapid sends leave one job, with the last payload, starting after the last send", async () => {
  await using db = await jobsDatabase();
  const ids = new Set<string | null>();
  for (let i = 0; i < 50; i++) {
    ids.add(await recordEffect.delay({ key: `v${i}` }, { debounce: { key: "d", seconds: 3 } }));
  }
  const jobs = await waiting(db);
  assert.equal(jobs.length, 1);
  assert.deepEqual([...ids], [jobs[0]!.id], "every send names the one job");
  assert.equal(jobs[0]!.data.key, "v49");
  assert.ok(jobs[0]!.wait > 2 && jobs[0]!.wait <= 3, `starts in ${jobs[0]!.wait} s`);
  // Another key is another job; a send after the job started is a new one.
  await recordEffect.delay({ key: "other" }, { debounce: { key: "e", seconds: 3 } });
  assert.equal((await waiting(db)).length, 2);
});

Deno.test("debounce from many senders at once still leaves one job", async () => {
  await using db = await jobsDatabase();
  await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => recordEffect.delay({ key: `p${i}` }, { debounce: { key: "d", seconds: 3 } }),
    ),
  );
  assert.equal((await waiting(db)).length, 1);
});

Deno.test("throttle: one job per key and window; the sends it drops resolve with null", async () => {
  await using db = await jobsDatabase();
  const results = [];
  for (let i = 0; i < 10; i++) {
    results.push(
      await recordEffect.delay({ key: `t${i}` }, { throttle: { key: "t", seconds: 60 } }),
    );
  }
  assert.equal(results.filter((r) => r !== null).length, 1);
  assert.equal(results[0] !== null, true, "the first send of the window is the one kept");
  const jobs = await waiting(db);
  assert.deepEqual(jobs.map((j) => j.data.key), ["t0"]);
  await recordEffect.delay({ key: "u" }, { throttle: { key: "u", seconds: 60 } });
  assert.equal((await waiting(db)).length, 2);
});

Deno.test("bad debounce and throttle windows are refused, and nothing is stored", async () => {
  await using db = await jobsDatabase();
  await assert.rejects(
    () => recordEffect.delay({ key: "x" }, { debounce: { key: "", seconds: 3 } }),
    /test-record: debounce.key must be a non-empty string/,
  );
  await assert.rejects(
    () => recordEffect.delay({ key: "x" }, { throttle: { key: "k", seconds: 0.5 } }),
    /test-record: throttle.seconds must be a whole number of seconds, at least 1, got 0.5/,
  );
  assert.equal((await waiting(db)).length, 0);
});
