/**
 * Defining a job: a name, a zod payload schema, a handler and its policy.
 * The definition gives typed `delay`, `delayIn` and `scheduleCron`.
 *
 * @module
 */
import type { z } from "zod";
import { currentJobClient } from "./client.ts";
import type { EnqueueOptions, JobSpec, RunOptions, RunResult, ScheduleOptions } from "./spec.ts";

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
  /**
   * Enqueues, then waits (on a Postgres LISTEN, not by polling) until the job ends: resolves with
   * its output once it completed, throws `JobFailedError` when it failed its last retry or was
   * cancelled, and `JobTimeoutError` after `timeoutSeconds`, leaving the job to run.
   */
  run(data: z.input<S>, options: RunOptions): Promise<RunResult>;
  /** Adds a cron schedule at run time (in addition to the ones in code); resolves with its key. */
  scheduleCron(
    cron: string,
    data: z.input<S>,
    options?: ScheduleOptions,
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

/** Refuses limits that cannot hold: a count below 1, or a window that is not a positive time. */
function checkLimits(spec: JobSpec<z.ZodType>) {
  const { concurrency, rateLimit } = spec;
  if (concurrency && !(Number.isInteger(concurrency.limit) && concurrency.limit >= 1)) {
    throw new RangeError(
      `Job ${spec.name}: concurrency.limit must be a whole number of at least 1, got ` +
        JSON.stringify(concurrency.limit),
    );
  }
  if (rateLimit && !(Number.isInteger(rateLimit.limit) && rateLimit.limit >= 1)) {
    throw new RangeError(
      `Job ${spec.name}: rateLimit.limit must be a whole number of at least 1, got ` +
        JSON.stringify(rateLimit.limit),
    );
  }
  if (rateLimit && !(Number.isFinite(rateLimit.perSeconds) && rateLimit.perSeconds > 0)) {
    throw new RangeError(
      `Job ${spec.name}: rateLimit.perSeconds must be a positive number of seconds, got ` +
        JSON.stringify(rateLimit.perSeconds),
    );
  }
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
  checkLimits(spec);
  return {
    ...spec,
    delay: (data, options) =>
      currentJobClient().enqueue(spec, data, { ...options, delaySeconds: 0 }),
    delayIn: (duration, data, options) =>
      currentJobClient().enqueue(spec, data, { ...options, delaySeconds: toSeconds(duration) }),
    run: (data, options) => currentJobClient().run(spec, data, options),
    scheduleCron: (cron, data, options) => currentJobClient().schedule(spec, cron, data, options),
  };
}
