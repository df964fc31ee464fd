/**
 * The process's job client: validates payloads, enqueues (optionally inside
 * a caller's transaction) and adds schedules. Each process binds one at
 * start, so `someJob.delay(data)` works anywhere without passing it around.
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import type { z } from "zod";
import type { Tx } from "../db/client.ts";
import type { EnqueueOptions, JobSpec } from "./spec.ts";

/** A payload that does not match its job's schema; nothing was stored. */
export class JobPayloadError extends Error {
  constructor(job: string, error: z.ZodError) {
    const problems = error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`);
    super(`Job ${job} refused a payload that does not match its schema: ${problems.join("; ")}`);
    this.name = "JobPayloadError";
  }
}

/** Enqueues and schedules jobs on one pg-boss instance. */
export interface JobClient {
  boss: PgBoss;
  enqueue<S extends z.ZodType>(
    spec: JobSpec<S>,
    data: z.input<S>,
    options: EnqueueOptions & { delaySeconds: number },
  ): Promise<string | null>;
  schedule<S extends z.ZodType>(
    spec: JobSpec<S>,
    cron: string,
    data: z.input<S>,
    options?: { tz?: string; key?: string },
  ): Promise<string>;
}

/** pg-boss's database interface over a postgres.js transaction. */
export function txAdapter(tx: Tx) {
  return {
    async executeSql(text: string, values?: unknown[]) {
      return { rows: await tx.unsafe(text, (values ?? []) as never[]) };
    },
  };
}

function validate<S extends z.ZodType>(spec: JobSpec<S>, data: unknown): z.infer<S> {
  const parsed = spec.schema.safeParse(data);
  if (!parsed.success) throw new JobPayloadError(spec.name, parsed.error);
  return parsed.data;
}

/** Wraps a started pg-boss instance. */
export function createJobClient(boss: PgBoss): JobClient {
  return {
    boss,
    async enqueue(spec, data, options) {
      const payload = validate(spec, data) as object;
      return await boss.send(spec.name, payload, {
        ...(options.delaySeconds > 0 ? { startAfter: options.delaySeconds } : {}),
        ...((options.priority ?? spec.policy?.priority) !== undefined
          ? { priority: options.priority ?? spec.policy?.priority }
          : {}),
        ...(options.singletonKey !== undefined ? { singletonKey: options.singletonKey } : {}),
        ...(options.tx ? { db: txAdapter(options.tx) } : {}),
      });
    },
    async schedule(spec, cron, data, options = {}) {
      const payload = validate(spec, data) as object;
      // Runtime schedules get their own key space, so the scheduler's sync of code schedules keeps them.
      const key = `runtime/${options.key ?? "default"}`;
      await boss.schedule(spec.name, cron, payload, { tz: options.tz ?? "UTC", key });
      return key;
    },
  };
}

let bound: JobClient | undefined;

/** Makes `client` the one `delay()` and friends use in this process; returns an unbind function. */
export function bindJobClient(client: JobClient): () => void {
  bound = client;
  return () => {
    if (bound === client) bound = undefined;
  };
}

/** The bound client; a clear error when jobs were not started in this process. */
export function currentJobClient(): JobClient {
  if (bound === undefined) {
    throw new Error(
      "Jobs are not started in this process: call startJobs() (the API, worker and scheduler do)",
    );
  }
  return bound;
}
