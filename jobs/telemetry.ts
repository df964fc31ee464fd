/**
 * Tracing and metrics for the worker. pg-boss stores the trace context of the
 * request that sent a job with the job (`openTelemetry.propagateContext`);
 * the worker reads it back as it fetches and runs each attempt in a `process`
 * span that continues that trace, so a request, its job and the job's email
 * are one trace across processes. Every attempt (retries too) is a further
 * `process` span of the same trace.
 *
 * @module
 */
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  trace,
} from "@opentelemetry/api";
import type { JobWithMetadata, PgBoss } from "pg-boss";
import { meter, recordFailure, tracer } from "../lib/telemetry.ts";
import { scheduledFor } from "./caught_up.ts";

/**
 * How an attempt ended: completed; failed with a retry to come, or with none
 * left; ran past its expiry (pg-boss retries it); or handed back at shutdown.
 */
export type Outcome = "completed" | "retry" | "failed" | "expired" | "released";

/** What pg-boss's `fetch()` accepts as its database: anything with `executeSql`. */
type FetchDb = ReturnType<PgBoss["getDb"]>;

/** The worker's tracing: trace contexts captured at fetch, a span and metrics per attempt. */
export interface JobTracing {
  /** Options for `boss.fetch()` that capture each fetched job's trace context. */
  fetchOptions: { db: FetchDb };
  /** `db` (a fetch's database, e.g. a transaction) wrapped to capture the same. */
  capture(db: FetchDb): FetchDb;
  /**
   * Runs one attempt of `job` in its `process` span; `fn` resolves with how
   * it ended, and records a handler's error on the span it is given.
   */
  process(
    queue: string,
    job: JobWithMetadata<unknown>,
    fn: (span: Span) => Promise<Outcome>,
  ): Promise<Outcome>;
}

/**
 * The worker's tracing for `boss`.
 *
 * @example
 * ```ts
 * const tracing = jobTracing(boss);
 * const batch = await boss.fetch(queue, { batchSize: 10, ...tracing.fetchOptions });
 * ```
 */
export function jobTracing(boss: PgBoss): JobTracing {
  // Filled as fetches return, emptied as attempts start: pg-boss reads the column, then hides it.
  const carriers = new Map<string, Record<string, string>>();
  const capture = (db: FetchDb): FetchDb => ({
    async executeSql(text: string, values?: unknown[]) {
      const result = await db.executeSql(text, values);
      for (const row of result.rows as { id?: string; __traceContext?: unknown }[]) {
        const carrier = typeof row.__traceContext === "string"
          ? JSON.parse(row.__traceContext)
          : row.__traceContext;
        if (row.id && carrier && typeof carrier === "object") carriers.set(row.id, carrier);
      }
      return result;
    },
  });
  const attempts = {
    completed: meter().createCounter("tusk.jobs.completed", {
      description: "Job attempts that completed.",
      unit: "{job}",
    }),
    retry: meter().createCounter("tusk.jobs.retried", {
      description: "Job attempts that failed and will be retried.",
      unit: "{job}",
    }),
    failed: meter().createCounter("tusk.jobs.failed", {
      description: "Job attempts that failed with no retry left (sent to the dead-letter queue).",
      unit: "{job}",
    }),
  };
  const duration = meter().createHistogram("tusk.job.duration", {
    description: "How long job attempts ran.",
    unit: "s",
  });

  function parentOf(id: string): Context {
    const carrier = carriers.get(id);
    carriers.delete(id);
    return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
  }

  function end(span: Span, queue: string, outcome: Outcome, started: number) {
    span.setAttribute("tusk.job.outcome", outcome);
    if (outcome === "completed" || outcome === "retry" || outcome === "failed") {
      attempts[outcome].add(1, { "messaging.destination.name": queue });
    }
    duration.record((performance.now() - started) / 1000, {
      "messaging.destination.name": queue,
      "tusk.job.outcome": outcome,
    });
    span.end();
  }

  return {
    fetchOptions: { db: capture(boss.getDb()) },
    capture,
    async process(queue, job, fn) {
      // The parent is the job's sender, never whatever context the fetch loop happens to run in.
      const parent = parentOf(job.id);
      const span = tracer().startSpan(`process ${queue}`, {
        kind: SpanKind.CONSUMER,
        attributes: {
          "messaging.system": "pg-boss",
          "messaging.operation.name": "process",
          "messaging.operation.type": "process",
          "messaging.destination.name": queue,
          "messaging.message.id": job.id,
          "pgboss.job.retry_count": job.retryCount,
          "tusk.job.attempt": job.retryCount + 1,
          // A flow's step that others wait on; the run a caught-up schedule sent it for.
          ...(job.blocking ? { "tusk.job.has_dependents": true } : {}),
          ...(scheduledFor(job.singletonKey)
            ? { "tusk.job.scheduled_for": scheduledFor(job.singletonKey)!.toISOString() }
            : {}),
        },
      }, parent);
      const started = performance.now();
      let outcome: Outcome = job.retryCount < job.retryLimit ? "retry" : "failed";
      try {
        outcome = await context.with(trace.setSpan(parent, span), () => fn(span));
        return outcome;
      } catch (error) {
        recordFailure(span, error);
        throw error;
      } finally {
        end(span, queue, outcome, started);
      }
    },
  };
}
