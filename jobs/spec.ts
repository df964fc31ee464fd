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
}

/** What {@link defineJob} takes. */
export interface JobSpec<S extends z.ZodType> {
  name: string;
  schema: S;
  handler: (data: z.infer<S>, ctx: JobContext) => Promise<unknown> | unknown;
  policy?: JobPolicy;
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
}
