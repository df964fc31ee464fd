import assert from "node:assert/strict";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { TEST_SECRET, testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { startTusk, TEST_ROLE_ENTRY, type TuskProcess, waitFor } from "../process.ts";
import { EFFECTS_TABLE_SQL, recordEffect, slowEffect, TEST_JOBS } from "../fixtures/test_jobs.ts";

const ALL_JOBS = [...JOBS, ...TEST_JOBS];

/** A migrated database with the test queues and the effects table, and a bound job client. */
async function jobsDatabase(): Promise<TestDatabase> {
  const db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  await testApp(db, { jobs: ALL_JOBS }); // binds a client, so .delay() works here
  return db;
}

function roleEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    JOBS_SUPERVISE_INTERVAL_SECONDS: "1",
    WORKER_POLL_INTERVAL_MS: "200",
    SCHEDULER_INTERVAL_SECONDS: "1",
    EMAIL_TRANSPORT: "off",
    ...extra,
  };
}

async function startRole(
  role: "worker" | "scheduler",
  env: Record<string, string>,
): Promise<TuskProcess> {
  const proc = startTusk([role], env, { entry: TEST_ROLE_ENTRY });
  await proc.waitForOutput(new RegExp(`${role} ready`), 30_000);
  return proc;
}

async function jobState(db: TestDatabase, id: string): Promise<string | undefined> {
  const [row] = await db.sql`select state::text from pgboss.job where id = ${id}`;
  return row?.state;
}

Deno.test("a worker killed with SIGKILL mid-job: the job expires and another worker completes it", async () => {
  await using db = await jobsDatabase();
  const id = (await recordEffect.delay({ key: "survivor", firstAttemptMs: 60_000 }))!;
  {
    await using doomed = await startRole("worker", roleEnv(db));
    await waitFor(async () => (await jobState(db, id)) === "active");
    doomed.kill("SIGKILL");
    await doomed.status;
  }
  await using rescuer = await startRole("worker", roleEnv(db));
  await waitFor(async () => (await jobState(db, id)) === "completed");
  const rows = await db.sql`select key, attempt from job_effects`;
  assert.deepEqual(rows.map((r) => [r.key, r.attempt]), [["survivor", 2]]);
  rescuer.kill("SIGTERM");
  assert.equal((await rescuer.status).code, 0, rescuer.output());
});

Deno.test("two workers share 300 jobs and run each exactly once", async () => {
  await using db = await jobsDatabase();
  const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
  await using a = await startRole(
    "worker",
    roleEnv(db, { WORKER_BATCH_SIZE: "7", WORKER_CONCURRENCY: "10" }),
  );
  await using b = await startRole(
    "worker",
    roleEnv(db, { WORKER_BATCH_SIZE: "7", WORKER_CONCURRENCY: "10" }),
  );
  for (const key of keys) await recordEffect.delay({ key });
  await waitFor(async () =>
    (await db.sql`select count(*)::int as n from job_effects`)[0]!.n === keys.length
  );
  await waitFor(async () =>
    (await db
      .sql`select count(*)::int as n from pgboss.job where name = 'test-record' and state = 'completed'`)[
        0
      ]!
      .n === keys.length
  );
  const [failed] = await db
    .sql`select count(*)::int as n from pgboss.job where name = 'test-record' and retry_count > 0`;
  assert.equal(
    failed!.n,
    0,
    "no job ran twice (a second run would hit the primary key and be retried)",
  );
  for (const proc of [a, b]) proc.kill("SIGTERM");
  for (const proc of [a, b]) assert.equal((await proc.status).code, 0);
  const outputs = a.output() + b.output();
  assert.match(a.output(), /worker stopped/);
  assert.doesNotMatch(outputs, /"level":"error"/);
});

Deno.test("SIGTERM: a job that fits the timeout finishes; one that does not is released; exit 0", async () => {
  await using db = await jobsDatabase();
  await using worker = await startRole("worker", roleEnv(db, { WORKER_SHUTDOWN_TIMEOUT: "2" }));
  const quick = (await slowEffect.delay({ key: "quick", ms: 500 }))!;
  const long = (await slowEffect.delay({ key: "long", ms: 30_000 }))!;
  await waitFor(async () =>
    (await jobState(db, quick)) === "active" && (await jobState(db, long)) === "active"
  );
  worker.kill("SIGTERM");
  assert.equal((await worker.status).code, 0, worker.output());
  assert.equal(await jobState(db, quick), "completed");
  assert.equal(await jobState(db, long), "retry", "released for another worker");
  const [active] = await db.sql`select count(*)::int as n from pgboss.job where state = 'active'`;
  assert.equal(active!.n, 0);
  assert.deepEqual((await db.sql`select key from job_effects`).map((r) => r.key), ["quick"]);
});

Deno.test("an idle worker is woken by NOTIFY, not by its (here one-minute) poll", async () => {
  await using db = await jobsDatabase();
  await using worker = await startRole("worker", roleEnv(db, { WORKER_POLL_INTERVAL_MS: "60000" }));
  await new Promise((r) => setTimeout(r, 500)); // let every fetch loop go idle
  const id = (await recordEffect.delay({ key: "woken" }))!;
  await waitFor(async () => (await jobState(db, id)) === "completed", 10_000);
  worker.kill("SIGTERM");
  assert.equal((await worker.status).code, 0);
});

Deno.test("three schedulers over three minute ticks send exactly one job per tick", async () => {
  await using db = await jobsDatabase();
  const schedulers = await Promise.all([0, 1, 2].map(() => startRole("scheduler", roleEnv(db))));
  const ticks = () =>
    db.sql`
      select date_trunc('minute', created_on) as minute, count(*)::int as n
      from pgboss.job where name = 'test-tick' group by 1 order by 1
    `;
  try {
    // Until three minute boundaries have sent their job, plus time for the last occurrence to
    // be forwarded through pg-boss's internal send queue (a few seconds under load). A loaded
    // machine can make a scheduler miss its first slot, so allow up to five boundaries.
    const boundary = (n: number) => {
      const at = new Date();
      at.setUTCSeconds(0, 0);
      at.setUTCMinutes(at.getUTCMinutes() + n);
      return at.getTime();
    };
    const third = boundary(3);
    const deadline = boundary(5) + 20_000;
    await new Promise((r) => setTimeout(r, third - Date.now() + 20_000));
    while ((await ticks()).length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5_000));
    }
  } finally {
    for (const s of schedulers) s.kill("SIGTERM");
    for (const s of schedulers) assert.equal((await s.status).code, 0, s.output());
    for (const s of schedulers) await s[Symbol.asyncDispose]();
  }
  const found = await ticks();
  // On a failure, what tells a second send of one occurrence from a forward late across a minute:
  // each tick job, and each occurrence the schedulers filed (its slot) and forwarded (its tries).
  const detail = async () =>
    JSON.stringify(
      await db.sql`
        select name, created_on, started_on, completed_on, state::text, retry_count,
               singleton_key, singleton_on, data->>'slot' as slot
        from pgboss.job
        where name = 'test-tick'
           or (name = '__pgboss__send-it' and data->>'name' = 'test-tick')
        order by created_on`,
      null,
      1,
    );
  assert.ok(found.length >= 3, `only ${found.length} ticks: ${await detail()}`);
  if (found.some((t) => t.n !== 1)) {
    assert.fail(`one job per tick, however many schedulers: ${await detail()}`);
  }
});

Deno.test("`deno task start-worker`: SIGTERM to its process group, repeated, is one clean stop", async () => {
  await using db = await jobsDatabase();
  await using worker = startTusk([], roleEnv(db), { task: "start-worker" });
  await worker.waitForOutput(/worker ready/, 30_000);
  // systemd signals every process of the unit's group: deno task and the worker both.
  worker.killGroup("SIGTERM");
  await new Promise((r) => setTimeout(r, 2));
  worker.killGroup("SIGTERM");
  assert.equal((await worker.status).code, 0, worker.output());
  assert.equal((worker.output().match(/"shutting down"/g) ?? []).length, 1, worker.output());
  assert.doesNotMatch(worker.output(), /received again|forcing/);
});

Deno.test("a stuck shutdown: the second signal is absorbed with a warning, the third forces exit 130", async () => {
  await using db = await jobsDatabase();
  const id = (await slowEffect.delay({ key: "stuck", ms: 60_000 }))!;
  await using worker = await startRole("worker", roleEnv(db, { WORKER_SHUTDOWN_TIMEOUT: "60" }));
  await waitFor(async () => (await jobState(db, id)) === "active");
  worker.kill("SIGTERM");
  await worker.waitForOutput(/"shutting down"/);
  await new Promise((r) => setTimeout(r, 400));
  worker.kill("SIGTERM");
  await worker.waitForOutput(/SIGTERM received again; still shutting down gracefully/);
  await new Promise((r) => setTimeout(r, 400));
  worker.kill("SIGINT");
  assert.equal((await worker.status).code, 130, worker.output());
  assert.match(worker.output(), /received 3 times; forcing the exit now/);
});
