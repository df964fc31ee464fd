/**
 * `startJobs()`: what each process role runs of the job system. Every role
 * can enqueue; workers also run jobs, schedulers also keep the cron clock.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { type Database, sessionUrl } from "../db/open.ts";
import type { Mailer } from "../emails/mailer.ts";
import type { Logger } from "../lib/logging.ts";
import { type AnyJob, createBoss, startBoss } from "./boss.ts";
import { bindJobClient, createJobClient, type JobClient } from "./client.ts";
import { syncSchedules } from "./schedules.ts";
import { sendCaughtUpRuns } from "./caught_up.ts";
import { reconcileEndings } from "./endings.ts";
import { repeat, type Repeating } from "../lib/repeat.ts";
import { outageLogger } from "../db/outage.ts";
import { startWorker, type Worker } from "./worker.ts";

/** The job system of one process. */
export interface Jobs {
  client: JobClient;
  worker: Worker | undefined;
  /** Stops the worker (gracefully) and the scheduler, then closes pg-boss. */
  stop(): Promise<void>;
}

/** Starts the job system for a process; binds its client for `delay()`. */
export async function startJobs(input: {
  config: Config;
  db: Database;
  mailer: Mailer;
  log: Logger;
  jobs: AnyJob[];
  role: string;
  work?: boolean;
  schedule?: boolean;
}): Promise<Jobs> {
  const { config, db, log } = input;
  // pg-boss's planner settings need sessions: the direct URL behind a pooler, when there is one.
  const sessions = sessionUrl(db);
  const boss = createBoss(sessions ?? db.url, {
    role: input.role,
    log,
    sessions: sessions !== undefined,
    supervise: input.work,
    superviseIntervalSeconds: config.jobs.superviseIntervalSeconds,
    schedule: input.schedule,
    cronIntervalSeconds: config.jobs.cronIntervalSeconds,
    // Fetch loops and completions run in parallel; give them room beyond the API's few sends.
    poolSize: input.work ? 10 : 4,
    tracing: config.tracing,
  });
  await startBoss(boss);
  const client = createJobClient(boss, { sql: db.sql, listenSql: db.sql });
  const unbind = bindJobClient(client);
  let worker: Worker | undefined;
  // Background passes: schedulers send the runs of catchUp "all" schedules; workers catch up on
  // job ends no worker saw (a job failed by its expiry: its batch, its flow's dependents).
  const passes: Repeating[] = [];
  const failed = (what: string) => {
    const outage = outageLogger(log, `${what}: database unavailable; retrying`);
    return (error: unknown) => {
      if (!outage(error)) log.error(`${what} failed`, { error });
    };
  };
  const stopPasses = async () => {
    for (const pass of passes.splice(0)) await pass.stop();
  };
  try {
    if (input.schedule) {
      await syncSchedules({ boss, sql: db.sql }, input.jobs, config, log);
      passes.push(repeat(
        config.jobs.cronIntervalSeconds,
        () => sendCaughtUpRuns({ sql: db.sql, boss }),
        failed("sending scheduled runs"),
      ));
    }
    if (input.work) {
      worker = await startWorker({
        boss,
        listenSql: db.sql,
        jobs: input.jobs,
        deps: { sql: db.sql, config, mailer: input.mailer, log },
        options: config.jobs,
        log,
      });
      passes.push(repeat(
        config.jobs.superviseIntervalSeconds,
        () => reconcileEndings({ sql: db.sql, boss }),
        failed("catching up on job ends"),
      ));
    }
  } catch (error) {
    await stopPasses();
    unbind();
    await boss.stop({ graceful: false });
    throw error;
  }
  return {
    client,
    worker,
    async stop() {
      await stopPasses();
      await worker?.stop();
      unbind();
      await boss.stop({ graceful: false, timeout: 5000 });
    },
  };
}
