import assert from "node:assert/strict";
import { z } from "zod";
import type { PgBoss } from "pg-boss";
import { createBoss, installJobs, startBoss } from "../../jobs/boss.ts";
import { defineJob } from "../../jobs/define.ts";
import { syncSchedules } from "../../jobs/schedules.ts";
import { startJobs } from "../../jobs/system.ts";
import { sendCaughtUpRuns } from "../../jobs/caught_up.ts";
import { createMailer } from "../../emails/mailer.ts";
import { createLogger } from "../../lib/logging.ts";
import { listQueues } from "../../services/jobs.ts";
import { TEST_SECRET, testApp, testConfig } from "../_app.ts";
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
  await syncSchedules({ boss: setup, sql: db.sql }, [latest, none], testConfig(), quiet);
  await setup.stop({ graceful: false });
  await awayFromMinuteTurn();
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

const caughtRuns = defineJob({
  name: "test-catch-all",
  schema: z.object({}),
  schedules: [{ cron: "* * * * *", data: {}, catchUp: "all" }],
  policy: { deadLetter: false },
  async handler(_data, { sql, scheduledFor }) {
    await sql`insert into caught_runs (at) values (${scheduledFor ?? null})`;
  },
});

/** Keeps clear of a minute's turn for the next `seconds`, which would add an on-time run. */
async function awayFromMinuteTurn(seconds = 30) {
  const second = new Date().getUTCSeconds();
  if (second > 60 - seconds) await new Promise((r) => setTimeout(r, (61 - second) * 1000));
}

Deno.test("catchUp all: two schedulers back after 3 missed minutes send each missed run once; the handler knows its run", async () => {
  await using db = await migratedDatabase();
  await installJobs(db.url, [caughtRuns], quiet);
  await db.sql`create table caught_runs (at timestamptz)`;
  const config = testConfig({ SCHEDULER_INTERVAL_SECONDS: "1" });
  const database = {
    sql: db.sql,
    url: db.url,
    embedded: undefined,
    close: () => Promise.resolve(),
  };
  const scheduler = () =>
    startJobs({
      config,
      db: database,
      mailer: createMailer(config, quiet),
      log: quiet,
      jobs: [caughtRuns],
      role: "test-scheduler",
      schedule: true,
    });
  // Declared (and caught up to now) by a first scheduler, which stops.
  await (await scheduler()).stop();
  assert.equal((await db.sql`select 1 from pgboss.schedule`).length, 0, "not pg-boss's to send");
  await awayFromMinuteTurn();
  const [back] = await db.sql<{ now: Date }[]>`
    update job_schedules_caught_up set last_tick = now() - interval '4 minutes'
    returning now()`;
  const now = back!.now;
  const expected = [1, 2, 3, 4].map((k) => {
    const minute = new Date(now);
    minute.setUTCSeconds(0, 0);
    return minute.getTime() - (4 - k) * 60_000;
  });

  const both = await Promise.all([scheduler(), scheduler()]);
  db.defer(async () => {
    for (const s of both) await s.stop();
  });
  await waitFor(async () => await sent(db, caughtRuns.name) >= 4, 10_000);
  await new Promise((r) => setTimeout(r, 2_500)); // more passes of both: nothing more
  assert.equal(await sent(db, caughtRuns.name), 4);

  // A worker runs them; each handler is told which run it is.
  await testApp(db, { jobs: [caughtRuns], work: true });
  await waitFor(async () => (await db.sql`select 1 from caught_runs`).length === 4, 10_000);
  const runs = await db.sql<{ at: Date }[]>`select at from caught_runs order by at`;
  assert.deepEqual(runs.map((r) => r.at.getTime()), expected);

  const view = (await listQueues(db.sql)).find((q) => q.name === caughtRuns.name)!.schedules[0]!;
  assert.equal(view.catch_up, "all");
  assert.ok(view.last_run instanceof Date);
});

Deno.test("catchUp all sends nothing older than its window", async () => {
  await using db = await migratedDatabase();
  const windowed = defineJob({
    ...caughtRuns,
    name: "test-catch-window",
    schedules: [{ cron: "* * * * *", data: {}, catchUp: "all", catchUpWindowSeconds: 150 }],
  });
  await installJobs(db.url, [windowed], quiet);
  const boss = createBoss(db.url, { role: "test", log: quiet });
  await startBoss(boss);
  db.defer(() => boss.stop({ graceful: false }));
  await syncSchedules({ boss, sql: db.sql }, [windowed], testConfig(), quiet);
  await awayFromMinuteTurn(5);
  // Down for an hour: only the runs of the last 150 s are sent.
  const [back] = await db.sql<{ now: Date }[]>`
    update job_schedules_caught_up set last_tick = now() - interval '1 hour' returning now()`;
  const now = back!.now;
  assert.equal(await sendCaughtUpRuns({ sql: db.sql, boss }), now.getUTCSeconds() < 30 ? 3 : 2);
  assert.equal(await sendCaughtUpRuns({ sql: db.sql, boss }), 0);
  await assert.rejects(
    () =>
      syncSchedules(
        { boss, sql: db.sql },
        [{
          ...windowed,
          policy: { singleton: true },
        }],
        testConfig(),
        quiet,
      ),
    /catchUp "all" sends a job per missed run, which a singleton or exclusive policy would drop/,
  );
});

Deno.test("a catchUp that is neither none nor latest is refused when schedules are synced", async () => {
  await using db = await migratedDatabase();
  const bad = defineJob({
    name: "test-catch-bad",
    schema: z.object({}),
    schedules: [{ cron: "* * * * *", data: {}, catchUp: "sometimes" as "none" }],
    handler() {},
  });
  await installJobs(db.url, [bad], quiet);
  const boss = createBoss(db.url, { role: "test", log: quiet });
  await startBoss(boss);
  db.defer(() => boss.stop({ graceful: false }));
  await assert.rejects(
    () => syncSchedules({ boss, sql: db.sql }, [bad], testConfig(), quiet),
    /Job test-catch-bad: catchUp must be "none", "latest" or "all", got "sometimes"/,
  );
});
