/**
 * What a job is made of: its spec (name, payload schema, handler, policy,
 * schedules), the context its handler gets, and the options of an enqueue.
 * Types only: both the definition (`define.ts`) and the process's job
 * client (`client.ts`) read them.
 *
 * @module
 */
import type { z } from "zod";
import type { Config } from "../config.ts";
import type { Sql, Tx } from "../db/client.ts";
import type { Mailer } from "../emails/mailer.ts";
import type { Logger } from "../lib/logging.ts";

/** What a handler can use besides its payload. */
export interface JobContext {
  id: string;
  /** 1 on the first run, 2 on the first retry, ... */
  attempt: number;
  /** Aborted when the job expires or the worker shuts down. */
  signal: AbortSignal;
  /** The run this job is for, when a `catchUp: "all"` schedule sent it. */
  scheduledFor?: Date;
  sql: Sql;
  config: Config;
  mailer: Mailer;
  log: Logger;
}

/** Retry, expiry, retention and priority of a job's queue. */
export interface JobPolicy {
  /** Retries after the first failure; default 3. */
  retryLimit?: number;
  /** Seconds before the first retry; default 5. */
  retryDelay?: number;
  /** Double the delay on each retry (with jitter); default true. */
  retryBackoff?: boolean;
  /** Longest delay between retries, seconds; default 1 hour. */
  retryDelayMax?: number;
  /** Seconds a run may take before it is failed and retried; default 15 minutes. */
  expireInSeconds?: number;
  /** Instead of a fixed expiry: seconds between liveness heartbeats (>= 10). */
  heartbeatSeconds?: number;
  /** Seconds a waiting job is kept before it is dropped; default 14 days. */
  retentionSeconds?: number;
  /** Seconds a finished job stays inspectable; default 7 days. */
  deleteAfterSeconds?: number;
  /** Higher runs first; default 0. */
  priority?: number;
  /** At most one queued job per singleton key (pg-boss `singleton` policy). */
  singleton?: boolean;
  /**
   * At most one job waiting or running (pg-boss `exclusive` policy): a send
   * while one is there is dropped (`delay()` resolves with null).
   */
  exclusive?: boolean;
  /** Route jobs that fail their last retry to `<name>__dead`; default true. */
  deadLetter?: boolean;
}

/** A cron schedule declared in code; the scheduler keeps pg-boss in step with these. */
export interface CodeSchedule<T> {
  cron: string;
  data: T;
  /** IANA time zone; default UTC. */
  tz?: string;
  /** Tells apart several schedules of one job; default "default". */
  key?: string;
  /**
   * What a scheduler starting after downtime sends for the runs that came due while none ran:
   * `none` (default) nothing; `latest` one job, for the most recent of them; `all` one job for
   * each, within `catchUpWindowSeconds` (`ctx.scheduledFor` tells the handler which run).
   */
  catchUp?: CatchUp;
  /** With `catchUp: "all"`: missed runs older than this are not sent; default a day. */
  catchUpWindowSeconds?: number;
}

/** Options of a schedule added at run time (`scheduleCron()`). */
export type ScheduleOptions = Pick<
  CodeSchedule<unknown>,
  "tz" | "key" | "catchUp" | "catchUpWindowSeconds"
>;

/** What to send for a schedule's runs missed while no scheduler ran. */
export type CatchUp = "none" | "latest" | "all";

/** A limit counted per key of a job's payload, or for the whole queue when `key` is left out. */
export interface KeyedLimit<T> {
  /** The key a job counts against, e.g. `(data) => data.accountId`; default: one for the queue. */
  key?: (data: T) => string;
}

/** Most jobs running at once, across all workers. */
export interface ConcurrencyLimit<T> extends KeyedLimit<T> {
  limit: number;
}

/** Most jobs started per `perSeconds`, across all workers; the rest wait, using no retry. */
export interface RateLimit<T> extends KeyedLimit<T> {
  limit: number;
  perSeconds: number;
}

/** What {@link defineJob} takes. */
export interface JobSpec<S extends z.ZodType> {
  name: string;
  schema: S;
  handler: (data: z.infer<S>, ctx: JobContext) => Promise<unknown> | unknown;
  policy?: JobPolicy;
  /** At most `limit` running at once across all workers (per key when `key` is given). */
  concurrency?: ConcurrencyLimit<z.infer<S>>;
  /** At most `limit` started per `perSeconds` across all workers (per key when `key`). */
  rateLimit?: RateLimit<z.infer<S>>;
  /** Cron schedules, fixed or read from the configuration. */
  schedules?: CodeSchedule<z.input<S>>[] | ((config: Config) => CodeSchedule<z.input<S>>[]);
}

/** Options for enqueueing. */
export interface EnqueueOptions {
  /** Enqueue inside this transaction: a rollback leaves no job behind. */
  tx?: Tx;
  priority?: number;
  /** Drops the job if one with this key is already queued (singleton policy). */
  singletonKey?: string;
  /**
   * Runs once, `seconds` after the last of a burst: a send while a job with this `key` still
   * waits replaces that job's payload and pushes its start back (pg-boss `upsert()`).
   */
  debounce?: { key: string; seconds: number };
  /**
   * At most one job per `key` in each window of `seconds`: a send into a window that has one is
   * dropped, and resolves with null (pg-boss `sendThrottled()`).
   */
  throttle?: { key: string; seconds: number };
}

/** Options for `run()`: enqueue, then wait for the job to end. */
export interface RunOptions {
  /**
   * Seconds to wait; past them `run()` throws a `JobTimeoutError` and the job goes on. A job that
   * fails and is retried is waited for through its retries.
   */
  timeoutSeconds: number;
  priority?: number;
  /** Refused with a `JobFailedError` (state `not sent`) if a job with this key is queued. */
  singletonKey?: string;
}

/** What `run()` resolves with: the job's id and its output. */
export interface RunResult {
  id: string;
  /** The handler's result as stored: an object as it is, anything else as `{ value }`. */
  output: unknown;
}

/** A job definition of any payload type. */
// deno-lint-ignore no-explicit-any -- a registry holds jobs of every payload type
export type AnyJob = JobSpec<z.ZodType<any>>;
