import assert from "node:assert/strict";
import { setPaused } from "../../db/job_queues.ts";
import type { z } from "zod";
import { batch, BatchOutcome } from "../../jobs/batches.ts";
import { currentJobClient, JobPayloadError } from "../../jobs/client.ts";
import { reconcileEndings } from "../../jobs/endings.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { waitFor } from "../process.ts";
import { batchDone, echo, recordOrFail } from "../fixtures/test_jobs.ts";
import { jobsDatabase, runs, stop, workers } from "./_workers.ts";
import type { TestDatabase } from "../_db.ts";

interface Callback {
  tag: string;
  outcome: z.infer<typeof BatchOutcome>;
  pid: number;
}

async function callbacks(db: TestDatabase): Promise<Callback[]> {
  return await db.sql<Callback[]>`select tag, outcome, pid from batch_callbacks`;
}

Deno.test("a batch's callback runs exactly once, with the right counts, when members end on three workers", async () => {
  const { db, app } = await jobsDatabase();
  await using _ = db;
  // Workers first, all ready, so the members spread over them.
  const procs = await workers(db, 3);
  const members = Array.from({ length: 60 }, (_, i) => ({
    job: recordOrFail,
    data: { key: `m${i}`, ms: 100, fail: i % 6 === 0 },
  }));
  const { id, jobIds } = await batch("import", members, {
    onComplete: { job: batchDone, data: { tag: "import done" } },
  });
  assert.equal(jobIds.length, 60);
  await waitFor(async () => (await callbacks(db)).length > 0, 30_000);
  await new Promise((r) => setTimeout(r, 1_000)); // a second callback would be here by now
  const done = await callbacks(db);
  assert.equal(done.length, 1, "exactly one callback");
  assert.equal(done[0]!.tag, "import done");
  assert.deepEqual(done[0]!.outcome, {
    id,
    name: "import",
    total: 60,
    completed: 50,
    failed: 10,
    cancelled: 0,
  });
  const pids = new Set((await runs(db)).map((r) => r.pid));
  assert.ok(pids.size >= 2, `members ran on ${pids.size} worker(s)`);
  await stop(procs);

  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const member = (await call(app, `/api/v1/jobs/${jobIds[1]}/status`, { headers: adminH })).body;
  assert.equal(member.batch.id, id);
  assert.deepEqual(
    [member.batch.total, member.batch.completed, member.batch.failed, member.batch.cancelled],
    [60, 50, 10, 0],
  );
  assert.ok(member.batch.finished_at);
  const [cb] = await db
    .sql`select state from pgboss.job where id = ${member.batch.callback_job_id}`;
  assert.equal(cb!.state, "completed");
});

Deno.test("a cancelled member counts as cancelled; a retried failure counts once, as it ended first", async () => {
  // Paused from the worker's start: a pause made now could reach it after the batch.
  const { db, app } = await jobsDatabase({ work: true, paused: [recordOrFail.name] });
  await using _ = db;
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const { jobIds } = await batch("mixed", [
    { job: recordOrFail, data: { key: "a" } },
    { job: recordOrFail, data: { key: "b" } },
    { job: echo, data: { say: "c", failFirst: true } }, // retried once, then completes
  ], { onComplete: { job: batchDone, data: { tag: "mixed" } } });
  const cancel = await call(app, `/api/v1/jobs/${jobIds[0]}/cancel`, {
    method: "POST",
    headers: adminH,
  });
  assert.equal(cancel.status, 200);
  await setPaused(db.sql, recordOrFail.name, false);
  await waitFor(async () => (await callbacks(db)).length > 0, 30_000);
  const [done] = await callbacks(db);
  const { total, completed, failed, cancelled } = done!.outcome;
  assert.deepEqual([total, completed, failed, cancelled], [3, 2, 0, 1]);
});

Deno.test("maintenance counts a member no worker saw end, and sends the callback once", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  const { jobIds } = await batch("unseen", [
    { job: recordOrFail, data: { key: "a" } },
    { job: recordOrFail, data: { key: "b" } },
  ], { onComplete: { job: batchDone, data: { tag: "unseen" } } });
  // As pg-boss's supervisor leaves a job whose worker died at its last attempt: failed, unseen.
  await db.sql`update pgboss.job set state = 'failed', completed_on = now()
    where id = any(${jobIds}::uuid[])`;
  const deps = { sql: db.sql, boss: currentJobClient().boss };
  assert.deepEqual(await reconcileEndings(deps), { members: 2, dependents: 0, batches: 1 });
  assert.deepEqual(await reconcileEndings(deps), { members: 0, dependents: 0, batches: 0 });
  const [row] = await db.sql`select count(*)::int as n from pgboss.job
    where name = ${batchDone.name}`;
  assert.equal(row!.n, 1, "one callback sent");
});

Deno.test("a worker catches up within its supervise interval on a member failed where no worker saw it", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  const { id, jobIds } = await batch("expired", [
    { job: recordOrFail, data: { key: "a" } },
    { job: recordOrFail, data: { key: "b" } },
  ], { onComplete: { job: batchDone, data: { tag: "expired" } } });
  // One runs; the other fails as pg-boss's supervisor fails a job whose worker died.
  await db.sql`update pgboss.job set state = 'failed', completed_on = now()
    where id = ${jobIds[1]!}`;
  const procs = await workers(db, 1, { JOBS_SUPERVISE_INTERVAL_SECONDS: "1" });
  await waitFor(async () => (await callbacks(db)).length === 1, 15_000);
  const [done] = await callbacks(db);
  assert.deepEqual(done!.outcome, {
    id,
    name: "expired",
    total: 2,
    completed: 1,
    failed: 1,
    cancelled: 0,
  });
  await stop(procs);
});

Deno.test("a batch is checked before anything is sent: its callback must take the outcome", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  await assert.rejects(
    () =>
      batch("bad", [{ job: recordOrFail, data: { key: "a" } }], {
        onComplete: { job: recordOrFail, data: {} },
      }),
    JobPayloadError,
  );
  await assert.rejects(
    () => batch("bad", [{ job: recordOrFail, data: { ms: "slow" } }]),
    JobPayloadError,
  );
  await assert.rejects(() => batch("", [{ job: recordOrFail, data: { key: "a" } }]), TypeError);
  await assert.rejects(() => batch("empty", []), /Batch empty has no members/);
  const [row] = await db.sql`select
    (select count(*) from pgboss.job where name = ${recordOrFail.name})::int as jobs,
    (select count(*) from job_batches)::int as batches`;
  assert.deepEqual(row, { jobs: 0, batches: 0 });
});
