/**
 * Defining a job: a name, a zod payload schema, a handler and its policy.
 * The definition gives typed `delay`, `delayIn` and `scheduleCron`.
 *
 * @module
 */
import type { z } from "zod";
import type { Config } from "../config.ts";
import type { Sql, Tx } from "../db/client.ts";
import type { Mailer } from "../emails/mailer.ts";
import type { Logger } from "../lib/logging.ts";
import { currentJobClient } from "./client.ts";

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

/** A duration as seconds, or Temporal.Duration-like fields. */
export type DurationLike = number | {
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
};

/** A defined job: its spec plus typed ways to enqueue it. */
export interface JobDefinition<S extends z.ZodType = z.ZodType> extends JobSpec<S> {
  /** Runs as soon as a worker is free; resolves with the job id (null if a singleton key dropped it). */
  delay(data: z.input<S>, options?: EnqueueOptions): Promise<string | null>;
  /** Runs after `duration`; resolves with the job id. */
  delayIn(
    duration: DurationLike,
    data: z.input<S>,
    options?: EnqueueOptions,
  ): Promise<string | null>;
  /** Adds a cron schedule at run time (in addition to the ones in code); resolves with its key. */
  scheduleCron(
    cron: string,
    data: z.input<S>,
    options?: { tz?: string; key?: string },
  ): Promise<string>;
}

/** The dead-letter queue's name for a job. */
export function deadLetterName(name: string): string {
  return `${name}__dead`;
}

/** Seconds in a {@link DurationLike}; throws on negative or non-finite values. */
export function toSeconds(duration: DurationLike): number {
  const seconds = typeof duration === "number" ? duration : (duration.days ?? 0) * 86_400 +
    (duration.hours ?? 0) * 3600 + (duration.minutes ?? 0) * 60 + (duration.seconds ?? 0) +
    (duration.milliseconds ?? 0) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(
      `A job delay must be a non-negative, finite duration, got ${JSON.stringify(duration)}`,
    );
  }
  return seconds;
}

/**
 * Defines a job. Put each in its own file under `jobs/` and list it in
 * `jobs/registry.ts`.
 *
 * @example
 * ```ts
 * export const sayHello = defineJob({
 *   name: "say-hello",
 *   schema: z.object({ name: z.string() }),
 *   handler: (data, { log }) => log.info(`hello ${data.name}`),
 * });
 * await sayHello.delay({ name: "Ada" });
 * ```
 */
export function defineJob<S extends z.ZodType>(spec: JobSpec<S>): JobDefinition<S> {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) {
    throw new Error(
      `Job name ${JSON.stringify(spec.name)} must be lower-case letters, digits and dashes`,
    );
  }
  return {
    ...spec,
    delay: (data, options) =>
      currentJobClient().enqueue(spec, data, { ...options, delaySeconds: 0 }),
    delayIn: (duration, data, options) =>
      currentJobClient().enqueue(spec, data, { ...options, delaySeconds: toSeconds(duration) }),
    scheduleCron: (cron, data, options) => currentJobClient().schedule(spec, cron, data, options),
  };
}
