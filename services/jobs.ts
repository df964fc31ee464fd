/**
 * Operator actions on jobs, shared by the job API and the console: finding a
 * job in whatever queue it is, and which states allow a retry or a cancel.
 *
 * @module
 */
import { CronExpressionParser } from "cron-parser";
import type { JobWithMetadata } from "pg-boss";
import type { Sql } from "../db/client.ts";
import { failedJobIds, jobQueue, queueExists, type QueueInfo, queueInfo } from "../db/jobs.ts";
import { catchUpOf } from "../jobs/schedules.ts";
import type { CatchUp } from "../jobs/spec.ts";
import { listQueueControls, setPaused } from "../db/job_queues.ts";
import { currentJobClient } from "../jobs/client.ts";
import { jobsEnded } from "../jobs/endings.ts";
import { jobLogs } from "../db/job_logs.ts";
import { jobOutcome, jobRelatives } from "../db/job_outcomes.ts";
import { batchOf } from "../db/job_batches.ts";
import { HttpError } from "../lib/http_error.ts";
import { redactSecrets } from "../jobs/logs.ts";

/** What the job API and the console show beside a job: its logs, flow relatives and batch. */
export async function jobExtras(sql: Sql, job: { id: string; name: string }) {
  const [logs, relatives, batch] = await Promise.all([
    jobLogs(sql, job.id),
    jobRelatives(sql, job.name, job.id),
    batchOf(sql, job.id),
  ]);
  return { logs, ...relatives, batch };
}

/**
 * Job `id` as the CLI shows it, read straight from the tables (no job client needed): its queue,
 * state and output (secrets redacted), its flow's jobs, its batch and its logs; undefined if none.
 */
export async function describeJob(sql: Sql, id: string) {
  const queue = await jobQueue(sql, id);
  const job = queue === undefined ? undefined : await jobOutcome(sql, queue, id);
  if (queue === undefined || job === undefined) return undefined;
  const extras = await jobExtras(sql, { id, name: queue });
  return { id, queue, state: job.state, output: redactSecrets(job.output ?? null), ...extras };
}

/** What {@link jobExtras} resolves with. */
export type JobExtras = Awaited<ReturnType<typeof jobExtras>>;

/** What an operator can do to one job. */
export type JobAction = "retry" | "cancel";

/** The states each action accepts. */
export const ACTION_STATES: Record<JobAction, readonly string[]> = {
  retry: ["failed", "cancelled"],
  cancel: ["created", "retry", "active"],
};

/** Job `id` with its metadata; a 404 when no queue has it. */
export async function findJob(sql: Sql, id: string): Promise<JobWithMetadata<unknown>> {
  const queue = await jobQueue(sql, id);
  const job = queue === undefined ? null : await currentJobClient().boss.getJobById(queue, id);
  if (!job) throw new HttpError(404, "Job not found");
  return job;
}

/**
 * Retries (a failed or cancelled job) or cancels (a waiting or running one)
 * job `id` and returns it after the change; 404 unknown, 409 wrong state.
 */
export async function actOnJob(
  sql: Sql,
  id: string,
  action: JobAction,
): Promise<JobWithMetadata<unknown>> {
  const job = await findJob(sql, id);
  const allowed = ACTION_STATES[action];
  if (!allowed.includes(job.state)) {
    throw new HttpError(
      409,
      `Only ${allowed.join(", ")} jobs can be ${
        action === "retry" ? "retried" : "cancelled"
      }; this one is ${job.state}`,
    );
  }
  const boss = currentJobClient().boss;
  if (action === "cancel") {
    await boss.cancel(job.name, job.id);
    // Whoever awaits it hears it ended, its batch counts it, the jobs waiting on it are cancelled.
    await jobsEnded({ sql, boss }, job.name, "cancelled", [job.id]);
  } else if (job.state === "failed") {
    // pg-boss re-queues failed jobs with retry() and cancelled ones with resume().
    await boss.retry(job.name, job.id);
  } else await boss.resume(job.name, job.id);
  return await findJob(sql, job.id);
}

/** A schedule as operators see it: its cron, catch-up policy, last and next runs. */
export interface ScheduleView {
  key: string;
  cron: string;
  timezone: string;
  catch_up: CatchUp;
  /** When it last sent a job (while pg-boss keeps that job), else null. */
  last_run: Date | null;
  /** When it sends next, or null when its cron cannot be read. */
  next_run: Date | null;
}

/** A queue as operators see it: its numbers, whether it is paused, and its limits. */
export interface QueueView extends Omit<QueueInfo, "schedules"> {
  schedules: ScheduleView[];
  paused: boolean;
  /** Most jobs running at once across all workers, per key when `per_key`; null: no limit. */
  concurrency: { limit: number; per_key: boolean } | null;
  /** Most jobs started per `per_seconds` across all workers, per key when `per_key`. */
  rate_limit: { limit: number; per_seconds: number; per_key: boolean } | null;
}

/** A queue's limits in words ("1 at once per key, 20 per 1 s"), or "" when it has none. */
export function describeLimits(q: QueueView): string {
  const parts = [];
  if (q.concurrency) {
    parts.push(`${q.concurrency.limit} at once${q.concurrency.per_key ? " per key" : ""}`);
  }
  if (q.rate_limit) {
    const r = q.rate_limit;
    parts.push(`${r.limit} per ${r.per_seconds} s${r.per_key ? " per key" : ""}`);
  }
  return parts.join(", ");
}

/** Every queue with its controls, by name. */
export async function listQueues(sql: Sql): Promise<QueueView[]> {
  const [queues, controls] = await Promise.all([queueInfo(sql), listQueueControls(sql)]);
  return queues.map((queue) => {
    const c = controls.find((c) => c.queue === queue.name);
    return {
      ...queue,
      schedules: queue.schedules.map(({ missed, ...s }) => ({
        ...s,
        catch_up: catchUpOf(missed),
        next_run: nextRun(s.cron, s.timezone) ?? null,
      })),
      paused: c?.paused ?? false,
      concurrency: c?.concurrency_limit
        ? { limit: c.concurrency_limit, per_key: c.concurrency_per_key }
        : null,
      rate_limit: c?.rate_limit && c.rate_seconds
        ? { limit: c.rate_limit, per_seconds: c.rate_seconds, per_key: c.rate_per_key }
        : null,
    };
  });
}

/**
 * Pauses or resumes queue `name` and returns it: a paused queue keeps taking jobs and starts
 * none, on every worker, within a second; running jobs finish. 404 when there is no such queue.
 */
export async function setQueuePaused(sql: Sql, name: string, paused: boolean): Promise<QueueView> {
  if (!(await queueExists(sql, name))) throw new HttpError(404, "Queue not found");
  await setPaused(sql, name, paused);
  return (await listQueues(sql)).find((q) => q.name === name)!;
}

/** Queues every failed job of queue `name` again; returns how many. */
export async function retryFailed(sql: Sql, name: string): Promise<number> {
  const ids = await failedJobIds(sql, name);
  if (ids.length > 0) await currentJobClient().boss.retry(name, ids);
  return ids.length;
}

/** When `cron` fires next in `timezone` after `from`, or undefined if it cannot be read. */
export function nextRun(cron: string, timezone: string, from = new Date()): Date | undefined {
  try {
    return CronExpressionParser.parse(cron, { tz: timezone, currentDate: from }).next().toDate();
  } catch {
    return undefined;
  }
}

export { redactSecrets };
