/**
 * The job admin API (superuser): queues (numbers, pause and resume), a job's
 * status, retry and cancel.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { JobWithMetadata } from "pg-boss";
import { queueInfo } from "../db/jobs.ts";
import { BatchOutcome } from "../jobs/batches.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import {
  actOnJob,
  findJob,
  type JobExtras,
  jobExtras,
  listQueues,
  type QueueView,
  redactSecrets,
  setQueuePaused,
} from "../services/jobs.ts";
import { BEARER, HttpErrorBody, IdParam, json } from "./schemas.ts";

const Counts = z.object({
  created: z.number().int(),
  retry: z.number().int(),
  active: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});
const QueueInfoList = z.object({
  data: z.array(z.object({
    name: z.string(),
    counts: Counts,
    oldest_waiting_seconds: z.number().nullable(),
    schedules: z.array(z.object({ key: z.string(), cron: z.string(), timezone: z.string() })),
  })),
  count: z.number().int(),
}).openapi("QueueInfo");
const Queue = z.object({
  name: z.string(),
  paused: z.boolean().openapi({ description: "Paused: takes jobs, starts none" }),
  counts: Counts,
  oldest_waiting_seconds: z.number().nullable(),
  concurrency: z.object({ limit: z.number().int(), per_key: z.boolean() }).nullable()
    .openapi({ description: "Most running at once across all workers (per key when per_key)" }),
  rate_limit: z.object({
    limit: z.number().int(),
    per_seconds: z.number(),
    per_key: z.boolean(),
  }).nullable().openapi({ description: "Most started per per_seconds across all workers" }),
  schedules: z.array(z.object({
    key: z.string(),
    cron: z.string(),
    timezone: z.string(),
    catch_up: z.enum(["none", "latest", "all"]).openapi({
      description: "What a scheduler starting after downtime sends for the runs it missed",
    }),
    last_run: z.string().nullable().openapi({ description: "When it last sent a job" }),
    next_run: z.string().nullable(),
  })),
}).openapi("Queue");
const QueueList = z.object({ data: z.array(Queue), count: z.number().int() }).openapi("Queues");
const QueueParam = z.object({
  name: z.string().min(1).max(255).openapi({ param: { name: "name", in: "path" } }),
});

function toQueue(q: QueueView): z.infer<typeof Queue> {
  return {
    name: q.name,
    paused: q.paused,
    counts: q.counts,
    oldest_waiting_seconds: q.oldest_waiting_seconds,
    concurrency: q.concurrency,
    rate_limit: q.rate_limit,
    schedules: q.schedules.map((s) => ({
      ...s,
      last_run: iso(s.last_run),
      next_run: iso(s.next_run),
    })),
  };
}

const JobRef = z.object({
  id: z.uuid(),
  name: z.string(),
  state: z.string().nullable().openapi({ description: "null once pg-boss no longer keeps it" }),
});

const JobStatus = z.object({
  id: z.uuid(),
  name: z.string(),
  state: z.string(),
  data: z.unknown(),
  output: z.unknown(),
  retry_count: z.number().int(),
  retry_limit: z.number().int(),
  created_on: z.string().nullable(),
  started_on: z.string().nullable(),
  completed_on: z.string().nullable(),
  logs: z.array(z.object({
    attempt: z.number().int(),
    lines: z.array(z.object({
      at: z.string(),
      level: z.enum(["debug", "info", "warn", "error"]),
      msg: z.string(),
      fields: z.record(z.string(), z.unknown()).optional(),
    })),
    truncated: z.number().int().openapi({ description: "Lines left out past the bounds" }),
  })).openapi({ description: "What each attempt's handler logged (secrets redacted)" }),
  parents: z.array(JobRef).openapi({ description: "The jobs of its flow it starts after" }),
  children: z.array(JobRef).openapi({ description: "The jobs of its flow that start after it" }),
  batch: BatchOutcome.extend({
    callback_job_id: z.uuid().nullable(),
    finished_at: z.string().nullable(),
  }).nullable().openapi({ description: "The batch it belongs to, with its members' outcomes" }),
}).openapi("JobStatus");

function iso(value: Date | null | undefined): string | null {
  return value ? new Date(value).toISOString() : null;
}

/**
 * A job as clients see it: secrets in its data and output redacted as the
 * console shows them; the error's stack stays in the database and the logs.
 */
function toStatus(job: JobWithMetadata<unknown>, extras: JobExtras): z.infer<typeof JobStatus> {
  let output: unknown = job.output ?? null;
  if (output && typeof output === "object" && "stack" in output) {
    const { stack: _stack, ...rest } = output as Record<string, unknown>;
    output = rest;
  }
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    data: redactSecrets(job.data),
    output: redactSecrets(output),
    retry_count: job.retryCount,
    retry_limit: job.retryLimit,
    created_on: iso(job.createdOn),
    started_on: iso(job.startedOn),
    completed_on: iso(job.completedOn),
    logs: extras.logs,
    parents: extras.parents,
    children: extras.children,
    batch: extras.batch
      ? {
        id: extras.batch.id,
        name: extras.batch.name,
        total: extras.batch.total,
        completed: extras.batch.completed,
        failed: extras.batch.failed,
        cancelled: extras.batch.cancelled,
        callback_job_id: extras.batch.callback_job_id,
        finished_at: iso(extras.batch.finished_at),
      }
      : null,
  };
}

/** `/jobs/*`. */
export function jobRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const admin = [currentUser(deps), superuserOnly()];

  router.openapi(
    createRoute({
      method: "get",
      path: "/jobs/queue-info",
      tags: ["jobs"],
      operationId: "jobs-read_queue_info",
      summary: "Every queue: counts by state, oldest waiting job's age, schedules (superuser)",
      middleware: admin,
      security: BEARER,
      responses: { 200: json(QueueInfoList, "Queues") },
    }),
    async (c) => {
      // The template's view: each schedule's key, cron and time zone, nothing Tusk added.
      const data = (await queueInfo(sql)).map((q) => ({
        ...q,
        schedules: q.schedules.map(({ key, cron, timezone }) => ({ key, cron, timezone })),
      }));
      return c.json({ data, count: data.length }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/jobs/queues",
      tags: ["jobs"],
      operationId: "jobs-read_queues",
      summary: "Every queue: paused or not, counts, concurrency and rate limits (superuser)",
      middleware: admin,
      security: BEARER,
      responses: { 200: json(QueueList, "Queues") },
    }),
    async (c) => {
      const data = (await listQueues(sql)).map(toQueue);
      return c.json({ data, count: data.length }, 200);
    },
  );

  for (const action of ["pause", "resume"] as const) {
    router.openapi(
      createRoute({
        method: "post",
        path: `/jobs/queues/{name}/${action}`,
        tags: ["jobs"],
        operationId: `jobs-${action}_queue`,
        summary: action === "pause"
          ? "Stop starting a queue's jobs on every worker; waiting jobs are kept (superuser)"
          : "Start a paused queue's jobs again (superuser)",
        middleware: [...admin, idempotent(deps)],
        security: BEARER,
        request: { params: QueueParam },
        responses: {
          200: json(Queue, "The queue after the change"),
          404: json(HttpErrorBody, "No such queue"),
        },
      }),
      async (c) => {
        const queue = await setQueuePaused(sql, c.req.valid("param").name, action === "pause");
        return c.json(toQueue(queue), 200);
      },
    );
  }

  router.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{job_id}/status",
      tags: ["jobs"],
      operationId: "jobs-read_job_status",
      summary: "One job, in whatever queue it is (superuser)",
      middleware: admin,
      security: BEARER,
      request: { params: IdParam("job_id") },
      responses: { 200: json(JobStatus, "The job"), 404: json(HttpErrorBody, "No such job") },
    }),
    async (c) => {
      const job = await findJob(sql, c.req.valid("param").job_id as string);
      return c.json(toStatus(job, await jobExtras(sql, job)), 200);
    },
  );

  for (const action of ["retry", "cancel"] as const) {
    router.openapi(
      createRoute({
        method: "post",
        path: `/jobs/{job_id}/${action}`,
        tags: ["jobs"],
        operationId: `jobs-${action}_job`,
        summary: action === "retry"
          ? "Queue a failed or cancelled job again (superuser)"
          : "Cancel a waiting or running job (superuser)",
        middleware: [...admin, idempotent(deps)],
        security: BEARER,
        request: { params: IdParam("job_id") },
        responses: {
          200: json(JobStatus, "The job after the change"),
          404: json(HttpErrorBody, "No such job"),
          409: json(HttpErrorBody, "The job is in a state that does not allow it"),
        },
      }),
      async (c) => {
        const job = await actOnJob(sql, c.req.valid("param").job_id as string, action);
        return c.json(toStatus(job, await jobExtras(sql, job)), 200);
      },
    );
  }

  return router;
}
