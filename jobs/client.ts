/**
 * The process's job client: validates payloads, enqueues (optionally inside
 * a caller's transaction) and adds schedules. Each process binds one at
 * start, so `someJob.delay(data)` works anywhere without passing it around.
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import type { z } from "zod";
import { createHash } from "node:crypto";
import { ambientTransaction, nextScopedSend, outsideAmbientTransaction } from "../db/ambient.ts";
import type { Sql } from "../db/client.ts";
import { jobOutcome } from "../db/job_outcomes.ts";
import type { EnqueueOptions, JobSpec, RunOptions, RunResult, ScheduleOptions } from "./spec.ts";
import { groupOf } from "./limits.ts";
import { txAdapter } from "./tx_adapter.ts";
import { type Awaits, awaits } from "./_awaits.ts";
import { applySchedule } from "./schedules.ts";

/** A payload that does not match its job's schema; nothing was stored. */
export class JobPayloadError extends Error {
  constructor(job: string, error: z.ZodError) {
    const problems = error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`);
    super(`Job ${job} refused a payload that does not match its schema: ${problems.join("; ")}`);
    this.name = "JobPayloadError";
  }
}

/** `run()` waited `timeoutSeconds` and the job had not ended; it goes on, and may still. */
export class JobTimeoutError extends Error {
  constructor(readonly jobId: string, job: string, readonly state: string, seconds: number) {
    super(`Job ${job} ${jobId} did not end within ${seconds} s (it is ${state}, and goes on)`);
    this.name = "JobTimeoutError";
  }
}

/** `run()`'s job ended without completing: failed after its last retry, cancelled, or gone. */
export class JobFailedError extends Error {
  constructor(
    readonly jobId: string,
    job: string,
    /** `failed`, `cancelled`, or `deleted` when pg-boss no longer keeps the job. */
    readonly state: string,
    /** The job's output: for a failure, the error's name and message. */
    readonly output: unknown,
  ) {
    const reason = (output as { message?: unknown } | null)?.message;
    super(`Job ${job} ${jobId} ${state}${typeof reason === "string" ? `: ${reason}` : ""}`);
    this.name = "JobFailedError";
  }
}

/** Enqueues and schedules jobs on one pg-boss instance. */
export interface JobClient {
  boss: PgBoss;
  /** The process's pool (flows and batches write beside pg-boss). */
  sql: Sql;
  enqueue<S extends z.ZodType>(
    spec: JobSpec<S>,
    data: z.input<S>,
    options: EnqueueOptions & { delaySeconds: number; id?: string },
  ): Promise<string | null>;
  /** Enqueues, then waits for the job to end (see {@link RunOptions}). */
  run<S extends z.ZodType>(
    spec: JobSpec<S>,
    data: z.input<S>,
    options: RunOptions,
  ): Promise<RunResult>;
  schedule<S extends z.ZodType>(
    spec: JobSpec<S>,
    cron: string,
    data: z.input<S>,
    options?: ScheduleOptions,
  ): Promise<string>;
}

/** Refuses a debounce or throttle window that cannot work. */
function checkWindow(job: string, kind: string, key: string, seconds: number) {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`Job ${job}: ${kind}.key must be a non-empty string`);
  }
  if (!(Number.isInteger(seconds) && seconds >= 1)) {
    throw new RangeError(
      `Job ${job}: ${kind}.seconds must be a whole number of seconds, at least 1, got ${seconds}`,
    );
  }
}

/**
 * What every send of `spec` carries besides its payload: its group under a concurrency limit,
 * and `priority` (else the policy's), when there is one.
 */
export function sendOptions<S extends z.ZodType>(
  spec: JobSpec<S>,
  data: z.infer<S>,
  priority?: number,
): { group?: { id: string }; priority?: number } {
  const group = groupOf(spec, data);
  const p = priority ?? spec.policy?.priority;
  return { ...(group ? { group } : {}), ...(p !== undefined ? { priority: p } : {}) };
}

/** `data` as `spec`'s schema reads it; a {@link JobPayloadError} when it does not match. */
export function validate<S extends z.ZodType>(spec: JobSpec<S>, data: unknown): z.infer<S> {
  const parsed = spec.schema.safeParse(data);
  if (!parsed.success) throw new JobPayloadError(spec.name, parsed.error);
  return parsed.data;
}

/** Refuses what `run()` cannot await, before anything is sent. */
function checkRun(job: string, options: RunOptions & { tx?: unknown }) {
  if (options.tx !== undefined) {
    throw new TypeError(
      `Job ${job}: run() cannot take tx: the job is not sent until your transaction commits; ` +
        "use delay() with tx, and await the job after the commit",
    );
  }
  const seconds = options.timeoutSeconds;
  if (!(Number.isFinite(seconds) && seconds > 0)) {
    throw new RangeError(`Job ${job}: run() needs timeoutSeconds above 0, got ${seconds}`);
  }
}

/** A UUID (version 8: made of a hash) naming `name`, so the same name gives the same id. */
export function uuidOf(name: string): string {
  const hex = createHash("sha256").update(name).digest("hex");
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${
    hex.slice(17, 20)
  }-${hex.slice(20, 32)}`;
}

/**
 * What a plain send in an idempotent request is named by: an id (pg-boss inserts a job whose id
 * is taken as nothing) and, on a queue whose policy does not use singleton keys itself, that
 * name as its singleton key, to find the job by.
 */
function scopedSend<S extends z.ZodType>(spec: JobSpec<S>, singletonKey: string | undefined) {
  const name = nextScopedSend(spec.name);
  if (name === undefined) return {};
  const keyed = singletonKey === undefined && !spec.policy?.singleton && !spec.policy?.exclusive;
  return { id: uuidOf(name), ...(keyed ? { singletonKey: name } : {}) };
}

/** What `run()` reads while it waits. */
interface RunDeps {
  sql: Sql;
  listenSql: Sql;
}

/** `run()` itself: sends job `spec` with an id it chose, and waits for its end. */
async function runJob<S extends z.ZodType>(
  client: JobClient,
  waiting: Awaits,
  deps: RunDeps,
  spec: JobSpec<S>,
  data: z.input<S>,
  options: RunOptions,
): Promise<RunResult> {
  checkRun(spec.name, options);
  // The id is known before the send, so the waiter is in place before any worker can finish.
  const id = crypto.randomUUID();
  let wake!: () => void;
  let woken = new Promise<void>((resolve) => wake = resolve);
  const unwatch = await waiting.watch(id, () => wake());
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const sent = await client.enqueue(spec, data, {
      priority: options.priority,
      singletonKey: options.singletonKey,
      delaySeconds: 0,
      id,
    });
    if (sent === null) {
      throw new JobFailedError(id, spec.name, "not sent", {
        message: `a job with singleton key ${options.singletonKey} is already queued`,
      });
    }
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
    });
    while (true) {
      const outcome = await jobOutcome(deps.sql, spec.name, id);
      if (outcome?.state === "completed") return { id, output: outcome.output ?? undefined };
      if (!outcome || ["failed", "cancelled"].includes(outcome.state)) {
        throw new JobFailedError(id, spec.name, outcome?.state ?? "deleted", outcome?.output);
      }
      if (await Promise.race([woken, timedOut]) === "timeout") {
        throw new JobTimeoutError(id, spec.name, outcome.state, options.timeoutSeconds);
      }
      woken = new Promise<void>((resolve) => wake = resolve);
    }
  } finally {
    clearTimeout(timer);
    await unwatch();
  }
}

/** Wraps a started pg-boss instance; `sql` and `listenSql` let `run()` await jobs. */
export function createJobClient(boss: PgBoss, deps: RunDeps): JobClient {
  const waiting = awaits(deps.listenSql);
  const client: JobClient = {
    boss,
    sql: deps.sql,
    run(spec, data, options) {
      // It must see its job end: it sends at once, outside any transaction the caller is in.
      return outsideAmbientTransaction(() => runJob(client, waiting, deps, spec, data, options));
    },
    async enqueue(spec, data, options) {
      const parsed = validate(spec, data);
      const payload = parsed as object;
      // In a caller's transaction (or the ambient one, as in an idempotent request): sent on commit.
      const tx = options.tx ?? ambientTransaction();
      const common = {
        ...sendOptions(spec, parsed, options.priority),
        ...(tx ? { db: txAdapter(tx) } : {}),
      };
      if (options.debounce) {
        const { key, seconds } = options.debounce;
        checkWindow(spec.name, "debounce", key, seconds);
        const upserted = await boss.upsert(spec.name, payload, {
          ...common,
          singletonKey: key,
          startAfter: Math.max(seconds, options.delaySeconds),
        });
        return upserted.jobs[0] ?? null;
      }
      if (options.throttle) {
        const { key, seconds } = options.throttle;
        checkWindow(spec.name, "throttle", key, seconds);
        return await boss.sendThrottled(
          spec.name,
          payload,
          {
            ...common,
            ...(options.delaySeconds > 0 ? { startAfter: options.delaySeconds } : {}),
          },
          seconds,
          key,
        );
      }
      return await boss.send(spec.name, payload, {
        ...common,
        ...(options.delaySeconds > 0 ? { startAfter: options.delaySeconds } : {}),
        ...(options.singletonKey !== undefined ? { singletonKey: options.singletonKey } : {}),
        ...(options.id ? { id: options.id } : scopedSend(spec, options.singletonKey)),
      });
    },
    async schedule(spec, cron, data, options = {}) {
      const payload = validate(spec, data) as object;
      // Runtime schedules get their own key space, so the scheduler's sync of code schedules keeps them.
      const key = `runtime/${options.key ?? "default"}`;
      await applySchedule({ boss, sql: deps.sql }, spec, key, { ...options, cron, data: payload });
      return key;
    },
  };
  return client;
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
