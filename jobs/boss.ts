/**
 * pg-boss set-up: installing its schema and our queues (part of `migrate`),
 * and the instance each process role runs.
 *
 * @module
 */
import { PgBoss } from "pg-boss";
import type { Logger } from "../lib/logging.ts";
import { reportError } from "../lib/error_reports.ts";
import { outageLogger } from "../db/outage.ts";
import { createSql } from "../db/client.ts";
import { recordQueueLimits } from "../db/job_queues.ts";
import { BOSS_PLANNER_SETTINGS } from "../db/jobs.ts";
import { withoutSpans } from "../lib/telemetry.ts";
import { deadLetterName } from "./define.ts";
import type { AnyJob, JobPolicy } from "./spec.ts";

/** The schema pg-boss lives in. */
export const BOSS_SCHEMA = "pgboss";

export type { AnyJob } from "./spec.ts";

/** Raised when the job schema is missing: the fix is `deno task migrate`. */
export class JobsNotInstalledError extends Error {
  constructor(cause: unknown) {
    super(
      `The job queue schema is not installed or is out of date ` +
        `(${cause instanceof Error ? cause.message : cause}). Run: deno task migrate`,
    );
    this.name = "JobsNotInstalledError";
  }
}

// Defaults chosen for email-like side effects: a few quick retries, then back off to an hour.
const DEFAULTS = {
  retryLimit: 3,
  retryDelay: 5,
  retryBackoff: true,
  retryDelayMax: 3600,
  expireInSeconds: 15 * 60,
} satisfies JobPolicy;

/** pg-boss queue options for a job's policy. */
export function queueOptions(job: AnyJob) {
  const p = { ...DEFAULTS, ...job.policy };
  return {
    retryLimit: p.retryLimit,
    retryDelay: p.retryDelay,
    retryBackoff: p.retryBackoff,
    // pg-boss accepts a maximum only for backoff (a fixed delay has nothing to cap).
    ...(p.retryBackoff ? { retryDelayMax: p.retryDelayMax } : {}),
    // With a heartbeat, a silent worker is detected by the heartbeat; the expiry only bounds the run.
    expireInSeconds: p.expireInSeconds,
    ...(p.heartbeatSeconds ? { heartbeatSeconds: p.heartbeatSeconds } : {}),
    ...(p.retentionSeconds ? { retentionSeconds: p.retentionSeconds } : {}),
    ...(p.deleteAfterSeconds !== undefined ? { deleteAfterSeconds: p.deleteAfterSeconds } : {}),
    ...(p.deadLetter === false ? {} : { deadLetter: deadLetterName(job.name) }),
    policy: p.exclusive ? "exclusive" : p.singleton ? "singleton" : "standard",
    // Inserts NOTIFY workers, which then fetch at once instead of at their next poll.
    notify: true,
  };
}

/** {@link BOSS_PLANNER_SETTINGS} as libpq `options`, for pg-boss's own connections. */
export const BOSS_SESSION_OPTIONS = Object.entries(BOSS_PLANNER_SETTINGS)
  .map(([name, value]) => `-c ${name}=${value}`).join(" ");

/**
 * `url` with {@link BOSS_SESSION_OPTIONS} added to the `options` it may already carry (some
 * hosts need their own, such as Neon's `endpoint=`); a connection string's `options` would
 * otherwise replace a configured one.
 */
export function bossConnectionString(url: string, sessions = true): string {
  // Behind a transaction pooler a setting would not last, and the pooler refuses `options`.
  if (!sessions) return url;
  const parsed = new URL(url);
  const own = parsed.searchParams.get("options");
  parsed.searchParams.set("options", own ? `${own} ${BOSS_SESSION_OPTIONS}` : BOSS_SESSION_OPTIONS);
  return parsed.toString();
}

/** Options for {@link createBoss}. */
export interface BossOptions {
  role: string;
  log: Logger;
  /** False when `url` is a transaction pooler: no session settings (default true). */
  sessions?: boolean;
  /** Expire stuck jobs and apply retention (workers do). */
  supervise?: boolean;
  superviseIntervalSeconds?: number;
  /** Evaluate cron schedules (schedulers do). */
  schedule?: boolean;
  cronIntervalSeconds?: number;
  /** Connections in pg-boss's own pool. */
  poolSize?: number;
  /** Trace sends (carrying the trace context to the worker) and settles with OpenTelemetry. */
  tracing?: boolean;
}

/**
 * pg-boss's OpenTelemetry settings. With tracing on, a send stores the
 * sender's trace context with the job, for the worker to continue. Its
 * `receive` spans (one per fetch, most of them empty polls) and `complete`
 * spans (batched across jobs of unrelated traces) are left out: the worker's
 * `process` span says how each attempt ended.
 */
function telemetryOptions(tracing: boolean | undefined) {
  if (!tracing) return { enabled: false };
  return {
    enabled: true,
    propagateContext: true,
    tracerProvider: withoutSpans(["receive ", "complete "]),
  };
}

/** A pg-boss instance for a role; it never installs or alters the schema. */
export function createBoss(url: string, options: BossOptions): PgBoss {
  const boss = new PgBoss({
    connectionString: bossConnectionString(url, options.sessions),
    schema: BOSS_SCHEMA,
    application_name: `tusk-${options.role}-jobs`,
    max: options.poolSize ?? 4,
    migrate: false,
    supervise: options.supervise ?? false,
    schedule: options.schedule ?? false,
    ...(options.superviseIntervalSeconds
      ? {
        superviseIntervalSeconds: options.superviseIntervalSeconds,
        monitorIntervalSeconds: options.superviseIntervalSeconds,
      }
      : {}),
    ...(options.cronIntervalSeconds
      ? { cronWorkerIntervalSeconds: options.cronIntervalSeconds }
      : {}),
    registerInstance: false,
    openTelemetry: telemetryOptions(options.tracing),
  });
  const outage = outageLogger(
    options.log,
    "job queue: database unavailable; retrying until it is back",
  );
  boss.on("error", (error) => {
    if (outage(error)) return;
    options.log.error("job queue error", { error });
    // The scheduler's cron clock, supervision and the like fail here, not in a handler.
    reportError(error, { level: "error", tags: { source: "pg-boss" } });
  });
  boss.on(
    "warning",
    (warning) => options.log.warn("job queue warning", { warning: warning.message }),
  );
  return boss;
}

/** Starts a role's instance, translating a missing schema into {@link JobsNotInstalledError}. */
export async function startBoss(boss: PgBoss): Promise<PgBoss> {
  try {
    return await boss.start();
  } catch (error) {
    if (/not installed|version|schema/i.test(String((error as Error)?.message))) {
      throw new JobsNotInstalledError(error);
    }
    throw error;
  }
}

/**
 * Installs or upgrades pg-boss's schema and creates or updates one queue per
 * job (plus its dead-letter queue). Part of `migrate`; safe to run concurrently.
 */
export async function installJobs(url: string, jobs: AnyJob[], log: Logger): Promise<void> {
  const boss = new PgBoss({
    connectionString: url,
    schema: BOSS_SCHEMA,
    application_name: "tusk-migrate-jobs",
    max: 2,
    migrate: true,
    supervise: false,
    schedule: false,
    registerInstance: false,
    openTelemetry: telemetryOptions(false),
  });
  boss.on("error", (error) => log.error("job queue error", { error }));
  await boss.start();
  // For the limits each job's code declares, written for every process to show.
  const sql = createSql(url, { role: "cli", poolSize: 1 });
  try {
    for (const job of jobs) {
      const options = queueOptions(job);
      if (options.deadLetter && !(await boss.getQueue(options.deadLetter))) {
        await boss.createQueue(options.deadLetter, { retryLimit: 0, notify: false }).catch(
          ignoreExists,
        );
      }
      await recordQueueLimits(sql, job.name, {
        concurrency_limit: job.concurrency?.limit ?? null,
        concurrency_per_key: !!job.concurrency?.key,
        rate_limit: job.rateLimit?.limit ?? null,
        rate_seconds: job.rateLimit?.perSeconds ?? null,
        rate_per_key: !!job.rateLimit?.key,
      });
      if (await boss.getQueue(job.name)) {
        const {
          policy: _p,
          deadLetter: _d,
          retryDelayMax: _r,
          heartbeatSeconds: _h,
          ...changeable
        } = options;
        await boss.updateQueue(job.name, changeable);
      } else {
        await boss.createQueue(job.name, options).catch(ignoreExists);
      }
    }
  } finally {
    await sql.end();
    await boss.stop({ graceful: false });
  }
}

/** Two migrators racing to create one queue: the loser's "already exists" is fine. */
function ignoreExists(error: unknown) {
  if (!/already exists|duplicate/i.test(String((error as Error)?.message))) throw error;
}
