import assert from "node:assert/strict";
import { installJobs } from "../../jobs/boss.ts";
import { JobFailedError, JobTimeoutError } from "../../jobs/client.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { waitFor } from "../process.ts";
import { echo, TEST_JOBS } from "../fixtures/test_jobs.ts";

async function jobsApp(work: boolean) {
  const db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  const { app } = await testApp(db, { jobs: [...JOBS, ...TEST_JOBS], work });
  return { db, app };
}

async function state(db: TestDatabase, id: string) {
  const [row] = await db.sql<{ state: string }[]>`select state from pgboss.job where id = ${id}`;
  return row?.state;
}

Deno.test("run() resolves with the job's output, through its retries; a bare result comes as { value }", async () => {
  const { db } = await jobsApp(true);
  await using _ = db;
  const done = await echo.run({ say: "hello" }, { timeoutSeconds: 20 });
  assert.deepEqual(done.output, { said: "hello", attempt: 1 });
  assert.equal(await state(db, done.id), "completed");
  const bare = await echo.run({ say: "plain", bare: true }, { timeoutSeconds: 20 });
  assert.deepEqual(bare.output, { value: "plain" });
  // A failed first attempt is retried; run() waits for the retry's answer.
  const retried = await echo.run({ say: "again", failFirst: true }, { timeoutSeconds: 20 });
  assert.deepEqual(retried.output, { said: "again", attempt: 2 });
  // Many at once, one listening connection.
  const many = await Promise.all(
    Array.from({ length: 30 }, (_, i) => echo.run({ say: `m${i}` }, { timeoutSeconds: 20 })),
  );
  assert.deepEqual(
    many.map((r) => (r.output as { said: string }).said),
    many.map((_, i) => `m${i}`),
  );
});

Deno.test("run() throws JobFailedError for a job that failed its last retry, or was cancelled", async () => {
  const { db, app } = await jobsApp(true);
  await using _ = db;
  const failed = await echo.run({ say: "doomed", fail: true }, { timeoutSeconds: 20 }).then(
    () => assert.fail("resolved"),
    (error) => error,
  );
  assert.ok(failed instanceof JobFailedError, String(failed));
  assert.equal(failed.state, "failed");
  assert.match(failed.message, /^Job test-echo \S+ failed: planned failure: doomed$/);
  assert.equal(await state(db, failed.jobId), "failed");

  // Cancelled from the API while it runs: the waiter hears of it at once.
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const started = Date.now();
  const running = echo.run({ say: "slow", ms: 6_000 }, { timeoutSeconds: 30 }).catch((e) => e);
  let id: string | undefined;
  await waitFor(async () => {
    [{ id } = { id: undefined }] = await db.sql<{ id: string }[]>`
      select id from pgboss.job where name = 'test-echo' and state = 'active'`;
    return id !== undefined;
  }, 10_000);
  const cancel = await call(app, `/api/v1/jobs/${id}/cancel`, { method: "POST", headers: adminH });
  assert.equal(cancel.status, 200);
  const cancelled = await running;
  assert.ok(cancelled instanceof JobFailedError, String(cancelled));
  assert.equal(cancelled.state, "cancelled");
  assert.ok(Date.now() - started < 5_000, "seen before the handler would have ended");
});

Deno.test("run() times out with JobTimeoutError and leaves the job to finish", async () => {
  const { db } = await jobsApp(true);
  await using _ = db;
  const started = performance.now();
  const error = await echo.run({ say: "late", ms: 2_000 }, { timeoutSeconds: 0.5 }).then(
    () => assert.fail("resolved"),
    (e) => e,
  );
  const waited = performance.now() - started;
  assert.ok(error instanceof JobTimeoutError, String(error));
  assert.ok(waited >= 450 && waited < 1_900, `gave up after ${waited} ms`);
  assert.match(error.message, /did not end within 0.5 s \(it is (created|active), and goes on\)/);
  await waitFor(async () => await state(db, error.jobId) === "completed", 10_000);
});

Deno.test("run() waits on a LISTEN, not by polling: it sees what is announced, and only that", async () => {
  // No worker here: the test settles the job itself.
  const { db } = await jobsApp(false);
  await using _ = db;
  const take = async () => {
    let id: string | undefined;
    await waitFor(async () => {
      [{ id } = { id: undefined }] = await db.sql<{ id: string }[]>`
        select id from pgboss.job where name = 'test-echo' and state = 'created'`;
      return id !== undefined;
    }, 5_000);
    await db.sql`
      update pgboss.job set state = 'completed', completed_on = now(), output = '{"by": "hand"}'
      where id = ${id!}`;
    return id!;
  };
  // Completed and announced as a worker announces it: run() answers at once.
  const announced = echo.run({ say: "a" }, { timeoutSeconds: 10 });
  const id = await take();
  const started = performance.now();
  await db.sql`select pg_notify('tusk_jobs_settled', ${`${crypto.randomUUID()},${id}`})`;
  assert.deepEqual((await announced).output, { by: "hand" });
  assert.ok(performance.now() - started < 2_000);
  // Completed without a word: a poller would find it; run() waits out its timeout.
  const silent = echo.run({ say: "b" }, { timeoutSeconds: 2 }).catch((e) => e);
  await take();
  assert.ok((await silent) instanceof JobTimeoutError);
});

Deno.test("run() refuses a transaction and a bad timeout before sending anything", async () => {
  const { db } = await jobsApp(false);
  await using _ = db;
  await assert.rejects(
    () =>
      db.sql.begin((tx) =>
        echo.run({ say: "x" }, { timeoutSeconds: 5, tx } as unknown as { timeoutSeconds: number })
      ),
    /run\(\) cannot take tx: the job is not sent until your transaction commits/,
  );
  for (const timeoutSeconds of [0, -1, Number.NaN, Infinity]) {
    await assert.rejects(
      () => echo.run({ say: "x" }, { timeoutSeconds }),
      /run\(\) needs timeoutSeconds above 0/,
    );
  }
  const [row] = await db.sql`select count(*)::int as n from pgboss.job where name = 'test-echo'`;
  assert.equal(row!.n, 0);
});
