/**
 * Operator actions on jobs, shared by the job API and the console: finding a
 * job in whatever queue it is, and which states allow a retry or a cancel.
 *
 * @module
 */
import { CronExpressionParser } from "cron-parser";
import type { JobWithMetadata } from "pg-boss";
import type { Sql } from "../db/client.ts";
import { failedJobIds, jobQueue } from "../db/jobs.ts";
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
