import assert from "node:assert/strict";
import { installJobs } from "../../jobs/boss.ts";
import { currentJobClient, JobPayloadError } from "../../jobs/client.ts";
import { toSeconds } from "../../jobs/define.ts";
import { JOBS } from "../../jobs/registry.ts";
import { sendEmail } from "../../jobs/send_email.ts";
import { syncSchedules } from "../../jobs/schedules.ts";
import { createLogger } from "../../lib/logging.ts";
import { testApp, testConfig } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import {
  alwaysFails,
  EFFECTS_TABLE_SQL,
  recordEffect,
  slowEffect,
  TEST_JOBS,
  tick,
} from "../fixtures/test_jobs.ts";
import { waitFor } from "../process.ts";

const ALL_JOBS = [...JOBS, ...TEST_JOBS];
const quiet = createLogger({ level: "error" });

async function jobsApp(options: { work?: boolean } = {}) {
  const db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, quiet);
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  const started = await testApp(db, { jobs: ALL_JOBS, work: options.work });
  return { db, ...started };
}

async function job(db: TestDatabase, id: string) {
  const [row] = await db.sql`select * from pgboss.job where id = ${id}`;
  return row;
}

Deno.test("a payload that fails its schema is refused at enqueue and never stored", async () => {
  const { db } = await jobsApp();
  await using _ = db;
  await assert.rejects(
    () => recordEffect.delay({ key: 42 } as never),
    (e: Error) => e instanceof JobPayloadError && /test-record .* key: /.test(e.message),
  );
  const [count] = await db
    .sql`select count(*)::int as n from pgboss.job where name = 'test-record'`;
  assert.equal(count!.n, 0);
});

Deno.test("enqueue inside a transaction: a rollback leaves no job, a commit keeps it", async () => {
  const { db } = await jobsApp();
  await using _ = db;
  await assert.rejects(() =>
    db.sql.begin(async (tx) => {
      await recordEffect.delay({ key: "rolled-back" }, { tx });
      throw new Error("rollback");
    })
  );
  const kept = await db.sql.begin((tx) => recordEffect.delay({ key: "committed" }, { tx }));
  const rows = await db
    .sql`select id, data->>'key' as key from pgboss.job where name = 'test-record'`;
  assert.deepEqual(rows.map((r) => [r.id, r.key]), [[kept, "committed"]]);
});

Deno.test("delayIn() defers by seconds or a duration object", async () => {
  const { db } = await jobsApp();
  await using _ = db;
  const a = (await recordEffect.delayIn(120, { key: "a" }))!;
  const b = (await recordEffect.delayIn({ hours: 1, minutes: 30 }, { key: "b" }))!;
  const [row] = await db.sql`
    select extract(epoch from (select start_after from pgboss.job where id = ${a}) - now())::int as a,
           extract(epoch from (select start_after from pgboss.job where id = ${b}) - now())::int as b`;
  assert.ok(Math.abs(row!.a - 120) <= 2, `a in ${row!.a}s`);
  assert.ok(Math.abs(row!.b - 5400) <= 2, `b in ${row!.b}s`);
  assert.throws(() => toSeconds(-1), RangeError);
  assert.throws(() => toSeconds({ seconds: Number.NaN }), RangeError);
});

Deno.test("a handler gets its payload, id and attempt; its result completes the job", async () => {
  const { db } = await jobsApp({ work: true });
  await using _ = db;
  const id = (await recordEffect.delay({ key: "hello" }))!;
  await waitFor(async () => (await job(db, id))?.state === "completed");
  assert.deepEqual(
    (await db.sql`select key, attempt from job_effects`).map((r) => [r.key, r.attempt]),
    [["hello", 1]],
  );
});

Deno.test("a job still running at its expiry is aborted by its worker, and its retry completes", async () => {
  const { db } = await jobsApp({ work: true });
  await using _ = db;
  // test-record expires after 2 s; its first attempt would sleep 20 s unless aborted.
  const started = performance.now();
  const id = (await recordEffect.delay({ key: "expiring", firstAttemptMs: 20_000 }))!;
  await waitFor(async () => (await job(db, id))?.state === "completed", 15_000);
  assert.ok(performance.now() - started < 15_000);
  assert.deepEqual(
    (await db.sql`select key, attempt from job_effects`).map((r) => [r.key, r.attempt]),
    [["expiring", 2]],
  );
});

Deno.test("a failing job is retried with backoff, records its error, then goes to its dead-letter queue", async () => {
  const { db, logs } = await jobsApp({ work: true });
  await using _ = db;
  const id = (await alwaysFails.delay({ n: 7 }))!;
  await waitFor(async () => (await job(db, id))?.state === "failed");
  const failed = await job(db, id);
  assert.equal(failed!.retry_count, 2);
  assert.equal(failed!.retry_backoff, true);
  assert.equal(failed!.output.message, "planned failure 7");
  assert.match(failed!.output.stack, /planned failure 7/);
  const attempts = logs.filter((l) => l.msg === "job failed" && l.id === id).map((l) =>
    Date.parse(String(l.time))
  );
  assert.equal(attempts.length, 3);
  // Fixed 1 s delays would take ~2 s; backoff doubles the second wait.
  assert.ok(attempts[2]! - attempts[0]! >= 2900, `retries took ${attempts[2]! - attempts[0]!} ms`);
  await waitFor(async () =>
    (await db.sql`select 1 from pgboss.job where name = 'test-fail__dead'`).length === 1
  );
  const [dead] = await db.sql`select data from pgboss.job where name = 'test-fail__dead'`;
  assert.deepEqual(dead!.data, { n: 7 });
});

Deno.test("a stored payload its schema refuses fails at once, for good, into the dead-letter queue, in one log line", async () => {
  const { db, logs } = await jobsApp({ work: true });
  await using _ = db;
  // As if queued before the schema changed: pg-boss itself takes any payload.
  const id = (await currentJobClient().boss.send("test-record", { key: 42 }))!;
  await waitFor(async () => (await job(db, id))?.state === "failed");
  const failed = await job(db, id);
  assert.equal(failed!.retry_count, 0, "no retry: none would read the payload differently");
  const message = "Job test-record refused a payload that does not match its schema: " +
    "key: Invalid input: expected string, received number";
  assert.deepEqual(failed!.output, { name: "JobPayloadError", message });
  await waitFor(async () =>
    (await db.sql`select 1 from pgboss.job where name = 'test-record__dead'`).length === 1
  );
  const lines = logs.filter((l) => l.id === id);
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.error]), [
    ["error", "job failed for good: its payload does not match the schema", message],
  ]);
  const [effects] = await db.sql`select count(*)::int as n from job_effects`;
  assert.equal(effects!.n, 0, "the handler never ran");
});

Deno.test("syncSchedules() applies code schedules, drops undeclared ones, keeps runtime ones", async () => {
  const { db, jobs } = await jobsApp();
  await using _ = db;
  const boss = jobs!.client.boss;
  await boss.schedule("test-tick", "0 0 * * *", { source: "gone" }, { key: "code/old" });
  const runtimeKey = await tick.scheduleCron("*/5 * * * *", { source: "runtime" }, { key: "mine" });
  assert.equal(runtimeKey, "runtime/mine");
  await assert.rejects(() => tick.scheduleCron("* * * * *", {} as never), JobPayloadError);
  await syncSchedules({ boss, sql: db.sql }, ALL_JOBS, testConfig(), quiet);
  const rows = await db.sql`select name, key, cron from pgboss.schedule order by name, key`;
  assert.deepEqual(rows.map((r) => [r.name, r.key, r.cron]), [
    ["export-analytics", "code/default", "0 3 * * *"],
    ["maintenance", "code/default", "17 * * * *"],
    ["test-tick", "code/default", "* * * * *"],
    ["test-tick", "runtime/mine", "*/5 * * * *"],
  ]);
});

Deno.test("job API: queue info, status, retry and cancel with their errors", async () => {
  const { db, app, jobs } = await jobsApp();
  await using _ = db;
  // The queue pg-boss's cron clock makes for itself when a scheduler runs.
  await jobs!.client.boss.createQueue("__pgboss__send-it");
  const admin = await makeUser(db.sql, { superuser: true });
  const user = await makeUser(db.sql);
  const h = bearer(await login(app, admin.email, admin.password));
  const waiting = (await slowEffect.delay({ key: "w", ms: 1 }))!;
  const info = await call(app, "/api/v1/jobs/queue-info", { headers: h });
  assert.equal(info.status, 200);
  const slow = info.body.data.find((q: { name: string }) => q.name === "test-slow");
  assert.deepEqual(slow.counts, {
    created: 1,
    retry: 0,
    active: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
  });
  assert.ok(slow.oldest_waiting_seconds >= 0);
  const maintenance = info.body.data.find((q: { name: string }) => q.name === "maintenance");
  assert.deepEqual(maintenance.schedules, []);
  assert.ok(info.body.data.some((q: { name: string }) => q.name === "send-email__dead"));
  assert.ok(
    info.body.data.every((q: { name: string }) => !q.name.startsWith("__pgboss__")),
    "pg-boss's internal queues are hidden",
  );

  const status = await call(app, `/api/v1/jobs/${waiting}/status`, { headers: h });
  assert.equal(status.status, 200);
  assert.equal(status.body.state, "created");
  assert.deepEqual(status.body.data, { key: "w", ms: 1 });
  assert.equal(status.body.retry_limit, 3);

  const notFailed = await call(app, `/api/v1/jobs/${waiting}/retry`, {
    method: "POST",
    headers: h,
  });
  assert.equal(notFailed.status, 409);
  assert.match(
    notFailed.body.detail,
    /Only failed, cancelled jobs can be retried; this one is created/,
  );
  const cancelled = await call(app, `/api/v1/jobs/${waiting}/cancel`, {
    method: "POST",
    headers: h,
  });
  assert.equal(cancelled.body.state, "cancelled");
  const again = await call(app, `/api/v1/jobs/${waiting}/cancel`, { method: "POST", headers: h });
  assert.equal(again.status, 409);
  const retried = await call(app, `/api/v1/jobs/${waiting}/retry`, { method: "POST", headers: h });
  assert.equal(retried.status, 200);
  assert.ok(["created", "retry"].includes(retried.body.state), retried.body.state);

  const failing = (await alwaysFails.delay({ n: 1 }))!;
  await db.sql`update pgboss.job set state = 'failed', output = ${
    db.sql.json({ message: "m", stack: "secret stack" })
  } where id = ${failing}`;
  const failedStatus = await call(app, `/api/v1/jobs/${failing}/status`, { headers: h });
  assert.deepEqual(failedStatus.body.output, { message: "m" }, "the stack is not sent to clients");

  assert.deepEqual(await call(app, `/api/v1/jobs/${crypto.randomUUID()}/status`, { headers: h }), {
    status: 404,
    body: { detail: "Job not found" },
  });
  assert.equal((await call(app, "/api/v1/jobs/nope/status", { headers: h })).status, 422);
  const userH = bearer(await login(app, user.email, user.password));
  assert.equal((await call(app, "/api/v1/jobs/queue-info", { headers: userH })).status, 403);
});

Deno.test("GET /jobs/{id}/status redacts secrets in data as the console does", async () => {
  const { db, app } = await jobsApp();
  await using _ = db;
  const admin = await makeUser(db.sql, { superuser: true });
  const h = bearer(await login(app, admin.email, admin.password));
  const id = await sendEmail.delay({
    to: "someone@example.com",
    subject: "Reset",
    html: "<a href='https://x/reset?token=SECRET-TOKEN'>reset</a>",
    text: "https://x/reset?token=SECRET-TOKEN",
  });
  const status = await call(app, `/api/v1/jobs/${id}/status`, { headers: h });
  assert.equal(status.status, 200);
  assert.deepEqual(status.body.data, {
    to: "someone@example.com",
    subject: "Reset",
    html: "[redacted]",
    text: "[redacted]",
  });
  assert.doesNotMatch(JSON.stringify(status.body), /SECRET-TOKEN/);
});

Deno.test("a job's policy priority applies unless the caller overrides it", async () => {
  const { db } = await jobsApp();
  await using _ = db;
  const { defineJob } = await import("../../jobs/define.ts");
  const { z } = await import("zod");
  const urgent = defineJob({
    name: "test-slow",
    schema: z.object({ key: z.string(), ms: z.number() }),
    policy: { priority: 7 },
    handler() {},
  });
  const a = (await urgent.delay({ key: "a", ms: 0 }))!;
  const b = (await urgent.delay({ key: "b", ms: 0 }, { priority: 1 }))!;
  assert.equal((await job(db, a))!.priority, 7);
  assert.equal((await job(db, b))!.priority, 1);
});

Deno.test("sent emails (which can hold reset links) are kept for an hour, not pg-boss's week", async () => {
  const { db } = await jobsApp();
  await using _ = db;
  const [queue] = await db.sql`select deletion_seconds from pgboss.queue where name = 'send-email'`;
  assert.equal(queue!.deletion_seconds, 3600);
});

Deno.test("a change made by a job is recorded with the job's id, name and attempt", async () => {
  const { db } = await jobsApp({ work: true });
  await using _ = db;
  await db.sql`select tusk_history.track('job_effects')`;
  // Its first attempt sleeps past its 2 s expiry, so the write happens on attempt 2.
  const id = (await recordEffect.delay({ key: "audited", firstAttemptMs: 3000 }))!;
  await waitFor(async () => (await job(db, id))?.state === "completed", 30_000);
  const [event] = await db.sql`
    select e.op, c.metadata from tusk_history.events e
    join tusk_history.contexts c on c.id = e.context_id
    where e.table_name = 'job_effects' and e.row_id = 'audited'`;
  assert.equal(event!.op, "insert");
  assert.deepEqual(event!.metadata, { job_id: id, job_name: "test-record", attempt: 2 });
});
