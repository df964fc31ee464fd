/**
 * Defining a job: a name, a zod payload schema, a handler and its policy.
 * The definition gives typed `delay`, `delayIn` and `scheduleCron`.
 *
 * @module
 */
import type { z } from "zod";
import { currentJobClient } from "./client.ts";
import type { EnqueueOptions, JobSpec } from "./spec.ts";

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
