import assert from "node:assert/strict";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { waitFor } from "../process.ts";
import { chatty, TEST_JOBS } from "../fixtures/test_jobs.ts";

Deno.test("a handler's log lines are kept per attempt, redacted and bounded, and shown with the job", async () => {
  await using db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  const { app, logs } = await testApp(db, { jobs: [...JOBS, ...TEST_JOBS], work: true });
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));

  const id = (await chatty.delay({ lines: 3, failFirst: true }))!;
  const status = async () =>
    (await call(app, `/api/v1/jobs/${id}/status`, { headers: adminH })).body;
  await waitFor(async () => (await status()).state === "completed", 20_000);
  const done = await status();
  assert.deepEqual(done.logs.map((l: { attempt: number }) => l.attempt), [1, 2]);
  const [first, second] = done.logs;
  assert.deepEqual(first.lines.map((l: { msg: string }) => l.msg), [
    "starting",
    "line 1",
    "line 2",
  ]);
  assert.deepEqual(second.lines.map((l: { level: string }) => l.level), [
    "info",
    "debug",
    "debug",
    "warn",
  ]);
  assert.deepEqual(first.lines[0].fields, {
    attempt: 1,
    api_key: "[redacted]",
    to: "ada@example.com",
  });
  assert.doesNotMatch(JSON.stringify(done), /sk-live/);
  // The process's own log still has every line, as before.
  assert.ok(logs.some((l) => l.msg === "line 2"));

  // 150 lines: the first 100 are kept, the rest counted.
  const loud = (await chatty.delay({ lines: 150 }))!;
  await waitFor(async () => {
    const body = (await call(app, `/api/v1/jobs/${loud}/status`, { headers: adminH })).body;
    return body.state === "completed";
  }, 20_000);
  const [attempt] = (await call(app, `/api/v1/jobs/${loud}/status`, { headers: adminH })).body.logs;
  assert.deepEqual([attempt.lines.length, attempt.truncated], [100, 51]);

  // A job that logged nothing has no log; the console shows the lines.
  const quiet = await db.sql`select count(*)::int as n from job_logs where job_id <> ${id}
    and job_id <> ${loud}`;
  assert.equal(quiet[0]!.n, 0);
});
