/**
 * Worker processes for the job tests that are about "across workers", and the database they
 * share: migrated, with the test jobs' queues and tables, and a job client bound in this process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { setPaused } from "../../db/job_queues.ts";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { TEST_SECRET, testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { startTusk, TEST_ROLE_ENTRY, type TuskProcess } from "../process.ts";
import { BATCH_CALLBACKS_SQL, STARTS_TABLE_SQL, TEST_JOBS } from "../fixtures/test_jobs.ts";

/**
 * A migrated database with the test jobs, their tables, and a bound job client; `paused`
 * queues are paused before the in-process worker (`work`) starts, so it reads them at its
 * start: a pause made later reaches a worker within a second, and a job sent meanwhile may run.
 */
export async function jobsDatabase(options: { work?: boolean; paused?: string[] } = {}) {
  const db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  await db.sql.unsafe(STARTS_TABLE_SQL);
  await db.sql.unsafe(BATCH_CALLBACKS_SQL);
  for (const queue of options.paused ?? []) await setPaused(db.sql, queue, true);
  const { app } = await testApp(db, { jobs: [...JOBS, ...TEST_JOBS], work: options.work });
  return { db, app };
}

/** `count` worker processes, killed when `db` is disposed if nothing stopped them before. */
export async function workers(
  db: TestDatabase,
  count: number,
  env: Record<string, string> = {},
): Promise<TuskProcess[]> {
  return await Promise.all(Array.from({ length: count }, async () => {
    const proc = startTusk(["worker"], {
      DATABASE_URL: db.url,
      SECRET_KEY: TEST_SECRET,
      WORKER_POLL_INTERVAL_MS: "200",
      WORKER_CONCURRENCY: "20",
      WORKER_BATCH_SIZE: "10",
      // Test files run side by side on one server: each process keeps to a few connections.
      DATABASE_POOL_SIZE: "4",
      EMAIL_TRANSPORT: "off",
      ...env,
    }, { entry: TEST_ROLE_ENTRY });
    db.defer(async () => await proc[Symbol.asyncDispose]());
    await proc.waitForOutput(/worker ready/, 30_000);
    return proc;
  }));
}

/** Stops `procs` with SIGTERM; each must exit 0. */
export async function stop(procs: TuskProcess[]) {
  for (const proc of procs) proc.kill("SIGTERM");
  for (const proc of procs) assert.equal((await proc.status).code, 0, proc.output());
}

/** One recorded run of a test job (`job_starts`). */
export interface Run {
  key: string;
  grp: string | null;
  pid: number;
  started_at: Date;
  finished_at: Date;
}

/** Every recorded run, oldest first. */
export async function runs(db: TestDatabase): Promise<Run[]> {
  return await db.sql<Run[]>`select * from job_starts order by started_at`;
}
