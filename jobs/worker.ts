/**
 * The worker runtime. pg-boss's `work()` sleeps a polling interval after
 * every batch, which caps a worker at batchSize per interval; this loop keeps
 * fetching while a queue has work, completes successes in batches, and only
 * waits (for a NOTIFY, or the poll interval) when the queue is empty.
 *
 * @module
 */
import type { Span } from "@opentelemetry/api";
import type { JobWithMetadata, PgBoss } from "pg-boss";
import type { Sql } from "../db/client.ts";
import { useUpRetries } from "../db/jobs.ts";
import { listenReliably } from "../db/listen.ts";
import { runInRootContext } from "../db/history_context.ts";
import { deadlines } from "../lib/deadlines.ts";
import type { Logger } from "../lib/logging.ts";
import { reportError } from "../lib/error_reports.ts";
import { outageLogger } from "../lib/outage.ts";
import { recordFailure } from "../lib/telemetry.ts";
import type { AnyJob } from "./boss.ts";
import { BOSS_SCHEMA } from "./boss.ts";
import { JobPayloadError, txAdapter } from "./client.ts";
import type { JobContext } from "./define.ts";
import { jobTracing, type Outcome } from "./telemetry.ts";

/** Tuning of one worker process. */
export interface WorkerOptions {
  /** Jobs running at once across all queues. */
  concurrency: number;
  /** Most jobs per fetch. */
  batchSize: number;
  /** Wait this long for a NOTIFY on an empty queue before fetching again. */
  pollIntervalMs: number;
  /** On stop, how long running jobs get before they are released for retry. */
  shutdownTimeoutMs: number;
}

/** What handlers get besides their payload and job identity. */
export type JobDeps = Omit<JobContext, "id" | "attempt" | "signal">;

/** A running worker. */
export interface Worker {
  /** Stops fetching, lets running jobs finish (bounded), releases the rest, and resolves. */
  stop(): Promise<void>;
  /** Jobs this worker finished, by outcome (for logs and benchmarks). */
  stats: { completed: number; failed: number };
}

interface Attempt {
  id: string;
  retryCount: number;
}

// Enough parallel fetches to overlap round trips, few enough to keep each batch full.
const MAX_FETCH_LOOPS = 4;
const RELEASE_MESSAGE = "The worker shut down before this job finished; released for retry";

/**
 * Starts working every queue in `jobs`.
 *
 * @example
 * ```ts
 * const worker = await startWorker({ boss, listenSql: sql, jobs: JOBS, deps, options, log });
 * // ... on SIGTERM:
 * await worker.stop();
 * ```
 */
export async function startWorker(input: {
  boss: PgBoss;
  /** A postgres.js pool used for LISTEN (it opens its own dedicated connection). */
  listenSql: Sql;
  jobs: AnyJob[];
  deps: JobDeps;
  options: WorkerOptions;
  log: Logger;
}): Promise<Worker> {
  const { boss, jobs, deps, options, log } = input;
  const tracing = deps.config.tracing ? jobTracing(boss) : undefined;
  const stats = { completed: 0, failed: 0 };
  let stopping = false;
  let free = options.concurrency;
  const running = new Map<
    string,
    { attempt: Attempt; queue: string; abort: AbortController; done: Promise<void> }
  >();
  const slotWaiters: (() => void)[] = [];
  const queueWakers = new Map<string, Set<() => void>>();
  const completions = new Map<string, Attempt[]>();
  const flushes = new Set<Promise<void>>();
  // An outage fails fetches, jobs and their bookkeeping at once: one line says so.
  const outage = outageLogger(
    log,
    "worker: database unavailable; jobs in flight will expire and be retried once it is back",
  );
  let flushScheduled = false;
  // Expiry is in seconds: checked once a second, on one timer for every job in flight.
  const after = deadlines(1000);

  function wake(queue?: string) {
    for (const [name, wakers] of queueWakers) {
      if (queue !== undefined && name !== queue) continue;
      for (const w of wakers) w();
      wakers.clear();
    }
  }

  const channel = await notifyChannel(input.listenSql);
  // After a reconnect every queue looks again: jobs sent meanwhile notified nobody.
  const listening = await listenReliably(input.listenSql, channel, {
    onNotify: (queue) => wake(queue),
    onReconnect: () => {
      log.warn("job wake-up listener reconnected");
      wake();
    },
  });

  function freeSlot() {
    free++;
    slotWaiters.shift()?.();
  }

  function waitForSlot(): Promise<void> {
    if (free > 0 || stopping) return Promise.resolve();
    return new Promise((resolve) => slotWaiters.push(resolve));
  }

  function idle(queue: string): Promise<void> {
    return new Promise((resolve) => {
      const wakers = queueWakers.get(queue) ?? new Set();
      queueWakers.set(queue, wakers);
      const timer = setTimeout(done, options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }

  /** Completes `attempts` in one round trip, storing `output` (if any) as their output. */
  function settle(queue: string, attempts: Attempt[], output?: object) {
    const flush = boss.complete(queue, attempts, output).then(
      () => {
        stats.completed += attempts.length;
      },
      (error) => {
        if (outage(error)) return;
        log.error("completing jobs failed; they will expire and retry", {
          queue,
          count: attempts.length,
          error,
        });
      },
    );
    flushes.add(flush);
    flush.finally(() => flushes.delete(flush));
  }

  function flushCompletions() {
    flushScheduled = false;
    for (const [queue, attempts] of completions) {
      completions.delete(queue);
      settle(queue, attempts);
    }
  }

  function completeLater(queue: string, fetched: Attempt) {
    const list = completions.get(queue) ?? [];
    list.push({ id: fetched.id, retryCount: fetched.retryCount });
    completions.set(queue, list);
    if (list.length >= options.batchSize) flushCompletions();
    else if (!flushScheduled) {
      flushScheduled = true;
      // Completions of one fetched batch finish together: one round trip settles them all.
      setTimeout(flushCompletions, 0);
    }
  }

  async function fail(queue: string, attempt: Attempt, error: unknown) {
    const e = error instanceof Error ? error : new Error(String(error));
    try {
      await boss.fail(queue, { id: attempt.id, retryCount: attempt.retryCount }, {
        name: e.name,
        message: e.message,
        stack: e.stack,
      });
      stats.failed++;
    } catch (failError) {
      if (outage(failError)) return;
      log.error("recording a job failure failed; it will expire and retry", {
        queue,
        id: attempt.id,
        error: failError,
      });
    }
  }

  /**
   * Fails a job whose stored payload its schema refuses (queued before the
   * schema changed): at once and for good, into its dead-letter queue, since
   * no retry reads the payload differently.
   */
  async function refuse(job: AnyJob, fetched: JobWithMetadata<unknown>, error: JobPayloadError) {
    log.error("job failed for good: its payload does not match the schema", {
      job: job.name,
      id: fetched.id,
      error: error.message,
    });
    reportError(error, { level: "error", tags: { queue: job.name, job_id: fetched.id } });
    const ref = { id: fetched.id, retryCount: fetched.retryCount };
    const output = { name: error.name, message: error.message };
    try {
      await deps.sql.begin(async (tx) => {
        await useUpRetries(tx, job.name, fetched.id);
        await boss.fail(job.name, ref, output, { db: txAdapter(tx) });
      });
      stats.failed++;
    } catch (failError) {
      if (outage(failError)) return;
      log.error("recording a job failure failed; it will expire and retry", {
        queue: job.name,
        id: fetched.id,
        error: failError,
      });
    }
  }

  /** Runs one attempt of a fetched job; `span` (tracing on) hears of its failure. */
  async function attempt(
    job: AnyJob,
    fetched: JobWithMetadata<unknown>,
    abort: AbortController,
    span?: Span,
  ): Promise<Outcome> {
    const attemptNo = fetched.retryCount + 1;
    const parsed = job.schema.safeParse(fetched.data);
    if (!parsed.success) {
      const error = new JobPayloadError(job.name, parsed.error);
      if (span) recordFailure(span, error);
      await refuse(job, fetched, error);
      return "failed";
    }
    try {
      const data = parsed.data;
      // Every change the handler makes is recorded as this job attempt's, and only its.
      const output = await runInRootContext(
        { job_id: fetched.id, job_name: job.name, attempt: attemptNo },
        () =>
          job.handler(data, {
            ...deps,
            id: fetched.id,
            attempt: attemptNo,
            signal: abort.signal,
          }),
        { sql: deps.sql },
      );
      if (abort.signal.aborted) return stopping ? "released" : "expired";
      // A handler's object result is kept as the job's output (as pg-boss's own work() does).
      if (output !== null && typeof output === "object") {
        settle(job.name, [{ id: fetched.id, retryCount: fetched.retryCount }], output);
      } else completeLater(job.name, fetched);
      return "completed";
    } catch (error) {
      if (stopping && abort.signal.aborted) return "released";
      if (span) recordFailure(span, error);
      const willRetry = fetched.retryCount < fetched.retryLimit;
      if (!outage(error)) {
        log.warn("job failed", { job: job.name, id: fetched.id, attempt: attemptNo, error });
        // A failure that will be retried is a warning; one that gives up (dead letter) an error.
        reportError(error, {
          level: willRetry ? "warning" : "error",
          tags: { queue: job.name, job_id: fetched.id, attempt: attemptNo },
        });
      }
      await fail(job.name, fetched, error);
      return willRetry ? "retry" : "failed";
    }
  }

  /** Runs one fetched job in a slot its fetch already reserved. */
  function run(job: AnyJob, fetched: JobWithMetadata<unknown>) {
    const ref = { id: fetched.id, retryCount: fetched.retryCount };
    const abort = new AbortController();
    const cancelExpiry = after(
      fetched.expireInSeconds * 1000,
      () => abort.abort(new Error("job expired")),
    );
    const heartbeat = fetched.heartbeatSeconds
      ? setInterval(
        () => boss.touch(job.name, ref).catch(() => {}),
        fetched.heartbeatSeconds * 500,
      )
      : undefined;
    const done = (async () => {
      try {
        if (tracing) {
          await tracing.process(job.name, fetched, (span) => attempt(job, fetched, abort, span));
        } else await attempt(job, fetched, abort);
      } finally {
        cancelExpiry();
        clearInterval(heartbeat);
        running.delete(fetched.id);
        freeSlot();
      }
    })();
    running.set(fetched.id, { attempt: ref, queue: job.name, abort, done });
  }

  async function fetchLoop(job: AnyJob) {
    while (!stopping) {
      // Another loop may take the freed slots first: wait until one is really ours.
      while (free <= 0 && !stopping) await waitForSlot();
      if (stopping) break;
      // Reserve the slots before fetching, so parallel fetch loops never overshoot the limit.
      const want = Math.min(options.batchSize, free);
      free -= want;
      let batch: JobWithMetadata<unknown>[];
      try {
        batch = await boss.fetch(job.name, {
          batchSize: want,
          includeMetadata: true,
          ...tracing?.fetchOptions,
        });
      } catch (error) {
        for (let i = 0; i < want; i++) freeSlot();
        if (!outage(error)) log.error("fetching jobs failed; retrying", { queue: job.name, error });
        await idle(job.name);
        continue;
      }
      for (let i = batch.length; i < want; i++) freeSlot();
      if (stopping) {
        for (let i = 0; i < batch.length; i++) freeSlot();
        // Fetched as we were told to stop: hand them straight back.
        await Promise.all(
          batch.map((j) =>
            fail(job.name, { id: j.id, retryCount: j.retryCount }, new Error(RELEASE_MESSAGE))
          ),
        );
        break;
      }
      if (batch.length === 0) {
        await idle(job.name);
        continue;
      }
      for (const fetched of batch) run(job, fetched);
    }
  }

  const loopsPerQueue = Math.max(
    1,
    Math.min(MAX_FETCH_LOOPS, Math.floor(options.concurrency / options.batchSize)),
  );
  const loops = jobs.flatMap((job) => Array.from({ length: loopsPerQueue }, () => fetchLoop(job)));
  log.info("worker started", {
    queues: jobs.map((j) => j.name),
    concurrency: options.concurrency,
    batch: options.batchSize,
  });

  return {
    stats,
    async stop() {
      stopping = true;
      wake();
      for (const resolve of slotWaiters.splice(0)) resolve();
      await Promise.all(loops);
      const finished = Promise.all([...running.values()].map((r) => r.done));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        finished.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), options.shutdownTimeoutMs)),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        const left = [...running.values()];
        log.warn("releasing jobs still running at shutdown", { count: left.length });
        for (const r of left) r.abort.abort(new Error(RELEASE_MESSAGE));
        await Promise.all(left.map((r) => fail(r.queue, r.attempt, new Error(RELEASE_MESSAGE))));
      }
      flushCompletions();
      await Promise.all([...flushes]);
      await listening.stop();
      log.info("worker stopped", stats);
    },
  };
}

/** The channel pg-boss NOTIFYs on when a job lands in a `notify` queue (derived as pg-boss derives it). */
async function notifyChannel(sql: Sql): Promise<string> {
  const [row] = await sql<{ channel: string }[]>`
    select ('pgboss_' || left(encode(sha224(${BOSS_SCHEMA}::bytea), 'hex'), 24)) as channel
  `;
  return row!.channel;
}
