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
import { listQueueControls, setPaused } from "../db/job_queues.ts";
import { currentJobClient } from "../jobs/client.ts";
import { HttpError } from "../lib/http_error.ts";
import { CREDENTIAL_KEY, redact } from "../lib/redact.ts";

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
  if (action === "cancel") await boss.cancel(job.name, job.id);
  // pg-boss re-queues failed jobs with retry() and cancelled ones with resume().
  else if (job.state === "failed") await boss.retry(job.name, job.id);
  else await boss.resume(job.name, job.id);
  return await findJob(sql, job.id);
}

/** A queue as operators see it: its numbers, whether it is paused, and its limits. */
export interface QueueView extends QueueInfo {
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

// An email's text body carries its links (a reset link among them) as well as its HTML.
const JOB_SECRET = new RegExp(`${CREDENTIAL_KEY.source}|text`, "i");

/** `value` with every secret-looking key's value replaced by "[redacted]", at any depth. */
export function redactSecrets(value: unknown): unknown {
  return redact(value, { key: JOB_SECRET, replacement: "[redacted]" });
}
