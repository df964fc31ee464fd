import assert from "node:assert/strict";
import { z } from "zod";
import type { PgBoss } from "pg-boss";
import { createBoss, installJobs, startBoss } from "../../jobs/boss.ts";
import { defineJob } from "../../jobs/define.ts";
import { syncSchedules } from "../../jobs/schedules.ts";
import { createLogger } from "../../lib/logging.ts";
import { listQueues } from "../../services/jobs.ts";
import { TEST_SECRET, testConfig } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { startTusk, waitFor } from "../process.ts";

const quiet = createLogger({ level: "error" });
const everyMinute = (name: string, catchUp: "none" | "latest") =>
  defineJob({
    name,
    schema: z.object({}),
    schedules: [{ cron: "* * * * *", data: {}, catchUp }],
    policy: { deadLetter: false },
    handler() {},
  });
const latest = everyMinute("test-catch-latest", "latest");
const none = everyMinute("test-catch-none", "none");

async function sent(db: TestDatabase, name: string): Promise<number> {
  const [row] = await db.sql`select count(*)::int as n from pgboss.job where name = ${name}`;
  return row!.n;
}

function scheduler(db: TestDatabase): PgBoss {
  return createBoss(db.url, { role: "test-scheduler", log: quiet, schedule: true });
}

Deno.test("two schedulers back after 3 missed cron minutes send the missed run once (catchUp latest), none for catchUp none", async () => {
  await using db = await migratedDatabase();
  await installJobs(db.url, [latest, none], quiet);
  const setup = createBoss(db.url, { role: "test", log: quiet });
  await startBoss(setup);
  await syncSchedules(setup, [latest, none], testConfig(), quiet);
  await setup.stop({ graceful: false });
  // Keep clear of a minute's turn, which would add an on-time run to both.
  const second = new Date().getUTCSeconds();
  if (second > 30) await new Promise((r) => setTimeout(r, (61 - second) * 1000));
  // The last scheduler pass was 4 minutes ago: the runs of the 3 minutes before the current one
  // were missed (the schedules are older than that).
  await db.sql`update pgboss.version set cron_on = now() - interval '4 minutes'`;
  await db.sql`update pgboss.schedule set created_on = now() - interval '1 hour'`;

  const schedulers = [scheduler(db), scheduler(db)];
  db.defer(async () => {
    await Promise.all(schedulers.map((b) => b.stop({ graceful: false })));
  });
  await Promise.all(schedulers.map((b) => startBoss(b)));
  // The current minute's run, and one for the three it missed.
  await waitFor(async () => await sent(db, latest.name) >= 2, 20_000);
  await waitFor(async () => await sent(db, none.name) >= 1, 20_000);
  await new Promise((r) => setTimeout(r, 3_000)); // more passes of both: nothing more
  assert.equal(await sent(db, latest.name), 2);
  assert.equal(await sent(db, none.name), 1, "catchUp none sends only the current run");

  const queues = await listQueues(db.sql);
  const view = (name: string) => queues.find((q) => q.name === name)!.schedules[0]!;
  assert.equal(view(latest.name).catch_up, "latest");
  assert.equal(view(none.name).catch_up, "none");
  assert.ok(view(latest.name).last_run instanceof Date, "its last run is shown");
  assert.ok(view(latest.name).next_run! > new Date());

  await using cli = startTusk(["jobs", "schedules"], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
  });
  assert.equal((await cli.status).code, 0, cli.output());
  assert.match(
    cli.output(),
    /^test-catch-latest\s+code\/default\s+\* \* \* \* \*\s+UTC\s+latest\s+\d{4}-\S+\s+\d{4}-/m,
  );
  assert.match(cli.output(), /^test-catch-none\s+code\/default\s+.*\s+none\s+/m);
});

Deno.test("a catchUp that is neither none nor latest is refused when schedules are synced", async () => {
  await using db = await migratedDatabase();
  const bad = defineJob({
    name: "test-catch-bad",
    schema: z.object({}),
    schedules: [{ cron: "* * * * *", data: {}, catchUp: "all" as "none" }],
    handler() {},
  });
  await installJobs(db.url, [bad], quiet);
  const boss = createBoss(db.url, { role: "test", log: quiet });
  await startBoss(boss);
  db.defer(() => boss.stop({ graceful: false }));
  await assert.rejects(
    () => syncSchedules(boss, [bad], testConfig(), quiet),
    /Job test-catch-bad: catchUp must be "none" or "latest", got "all"/,
  );
});
