import assert from "node:assert/strict";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { TEST_SECRET, testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { startTusk, TEST_ROLE_ENTRY, type TuskProcess, waitFor } from "../process.ts";
import {
  EFFECTS_TABLE_SQL,
  recordStart,
  STARTS_TABLE_SQL,
  TEST_JOBS,
} from "../fixtures/test_jobs.ts";

const ALL_JOBS = [...JOBS, ...TEST_JOBS];
const quiet = createLogger({ level: "error" });

async function jobsDatabase(): Promise<TestDatabase> {
  const db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, quiet);
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  await db.sql.unsafe(STARTS_TABLE_SQL);
  return db;
}

async function startWorkerProcess(db: TestDatabase): Promise<TuskProcess> {
  const proc = startTusk(["worker"], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    WORKER_POLL_INTERVAL_MS: "200",
    DATABASE_POOL_SIZE: "4",
    EMAIL_TRANSPORT: "off",
  }, { entry: TEST_ROLE_ENTRY });
  await proc.waitForOutput(/worker ready/, 30_000);
  return proc;
}

async function starts(db: TestDatabase) {
  return await db.sql<{ key: string; pid: number; started_at: Date }[]>`
    select key, pid, started_at from job_starts order by started_at`;
}

Deno.test("GET /jobs/queues, pause and resume: superusers only, 404 for no queue, audited", async () => {
  await using db = await jobsDatabase();
  const { app } = await testApp(db, { jobs: ALL_JOBS });
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const user = await makeUser(db.sql);
  const userH = bearer(await login(app, user.email, user.password));

  const list = await call(app, "/api/v1/jobs/queues", { headers: adminH });
  assert.equal(list.status, 200);
  const start = list.body.data.find((q: { name: string }) => q.name === "test-start");
  assert.deepEqual(
    [start.paused, start.counts.created, start.concurrency, start.rate_limit],
    [false, 0, null, null],
  );
  assert.equal((await call(app, "/api/v1/jobs/queues", { headers: userH })).status, 403);
  const asUser = await call(app, "/api/v1/jobs/queues/test-start/pause", {
    method: "POST",
    headers: userH,
  });
  assert.equal(asUser.status, 403);

  const paused = await call(app, "/api/v1/jobs/queues/test-start/pause", {
    method: "POST",
    headers: adminH,
  });
  assert.deepEqual([paused.status, paused.body.name, paused.body.paused], [
    200,
    "test-start",
    true,
  ]);
  // Pausing twice changes nothing and records nothing more.
  await call(app, "/api/v1/jobs/queues/test-start/pause", { method: "POST", headers: adminH });
  const again = await call(app, "/api/v1/jobs/queues", { headers: adminH });
  assert.ok(again.body.data.find((q: { name: string }) => q.name === "test-start").paused);
  const resumed = await call(app, "/api/v1/jobs/queues/test-start/resume/", {
    method: "POST",
    headers: adminH,
  });
  assert.deepEqual([resumed.status, resumed.body.paused], [200, false]);
  const missing = await call(app, "/api/v1/jobs/queues/no-such-queue/pause", {
    method: "POST",
    headers: adminH,
  });
  assert.deepEqual(missing, { status: 404, body: { detail: "Queue not found" } });

  // Who paused and resumed it, from which request: in audit history.
  const history = await call(app, "/api/v1/history/?table=job_queue_controls&row_id=test-start", {
    headers: adminH,
  });
  assert.deepEqual(
    history.body.data.map((e: { op: string; data: { paused: boolean } }) => [e.op, e.data.paused]),
    [["update", false], ["insert", true]],
  );
  assert.ok(
    history.body.data.every((e: { context: { user_id: string; route: string } }) =>
      e.context.user_id === admin.user.id && /queues/.test(e.context.route)
    ),
  );
});

Deno.test("a pause stops three worker processes within a second; jobs wait, and run on resume", async () => {
  await using db = await jobsDatabase();
  await testApp(db, { jobs: ALL_JOBS }); // binds a job client for .delay()
  await using a = await startWorkerProcess(db);
  await using b = await startWorkerProcess(db);
  await using c = await startWorkerProcess(db);

  // Running: jobs start.
  for (let i = 0; i < 30; i++) await recordStart.delay({ key: `before-${i}`, ms: 50 });
  await waitFor(async () => (await starts(db)).length === 30, 30_000);

  await db.sql`insert into job_queue_controls (queue, paused) values ('test-start', true)`;
  const pausedAt = Date.now();
  // Jobs keep arriving, all through the next 2.5 s; none may start a second after the pause.
  for (let i = 0; i < 50; i++) {
    await recordStart.delay({ key: `during-${i}`, ms: 0 });
    await new Promise((r) => setTimeout(r, 50));
  }
  const late = (await starts(db)).filter((s) => s.started_at.getTime() > pausedAt + 1000);
  assert.deepEqual(late.map((s) => s.key), []);
  const [waiting] = await db.sql`
    select count(*)::int as n from pgboss.job where name = 'test-start' and state = 'created'`;
  assert.ok(waiting!.n >= 45, `${waiting!.n} waiting`);

  await db.sql`update job_queue_controls set paused = false where queue = 'test-start'`;
  const resumedAt = Date.now();
  await waitFor(async () => (await starts(db)).length === 80, 10_000);
  const first = (await starts(db)).find((s) => s.key.startsWith("during-"))!;
  assert.ok(first.started_at.getTime() - resumedAt < 1000, "a resume starts jobs within a second");
  for (const proc of [a, b, c]) proc.kill("SIGTERM");
  for (const proc of [a, b, c]) assert.equal((await proc.status).code, 0, proc.output());
});

Deno.test("tusk jobs queues, pause and resume; an unknown queue or a missing name exits 1", async () => {
  await using db = await jobsDatabase();
  const tusk = async (...args: string[]) => {
    await using proc = startTusk(["jobs", ...args], {
      DATABASE_URL: db.url,
      SECRET_KEY: TEST_SECRET,
    });
    return { code: (await proc.status).code, out: proc.output() };
  };
  const paused = await tusk("pause", "test-start");
  assert.deepEqual([paused.code, paused.out.trim()], [0, "test-start is paused (0 waiting)"]);
  const listed = await tusk("queues");
  assert.equal(listed.code, 0, listed.out);
  assert.match(listed.out, /^test-start\s+paused\s+0\s+0\s+0/m);
  assert.match(listed.out, /^test-record\s+running/m);
  const resumed = await tusk("resume", "test-start");
  assert.deepEqual([resumed.code, resumed.out.trim()], [0, "test-start is running (0 waiting)"]);
  const unknown = await tusk("pause", "nope");
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /^tusk jobs: no queue is named nope \(tusk jobs queues lists them\)/m);
  const bare = await tusk("pause");
  assert.equal(bare.code, 1);
  assert.match(bare.out, /missing NAME/);
  // Recorded with the command that did it.
  const [event] = await db.sql`
    select c.metadata ->> 'command' as command from tusk_history.events e
    join tusk_history.contexts c on c.id = e.context_id
    where e.table_name = 'job_queue_controls' order by e.id desc limit 1`;
  assert.equal(event!.command, "tusk jobs resume test-start");
});
