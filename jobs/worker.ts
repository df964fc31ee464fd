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
import { listenReliably } from "../db/listen.ts";
import { runInRootContext } from "../db/history_context.ts";
import { deadlines } from "../lib/deadlines.ts";
import type { Logger } from "../lib/logging.ts";
import { reportError } from "../lib/error_reports.ts";
import { outageLogger } from "../db/outage.ts";
import { recordFailure } from "../lib/telemetry.ts";
import type { AnyJob } from "./boss.ts";
import { BOSS_SCHEMA } from "./boss.ts";
import { JobPayloadError } from "./client.ts";
import { slots } from "./_slots.ts";
import { type Attempt, settler } from "./_settle.ts";
import { flowResolver } from "./_flow_resolver.ts";
import { scheduledFor } from "./caught_up.ts";
import { wakeups } from "./_wakeups.ts";
import { watchPauses } from "./_pauses.ts";
import { isLimited, limitedFetch } from "./limits.ts";
import { type AttemptLog, attemptLog } from "./logs.ts";
import { saveJobLog } from "../db/job_logs.ts";
import type { JobContext } from "./spec.ts";
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
  const running = new Map<
    string,
    { attempt: Attempt; queue: string; abort: AbortController; done: Promise<void> }
  >();
  const free = slots(options.concurrency);
  const queues = wakeups(options.pollIntervalMs);
  const resolveFlow = flowResolver(boss, () => queues.wake(), log);
  // An outage fails fetches, jobs and their bookkeeping at once: one line says so.
  const outage = outageLogger(
    log,
    "worker: database unavailable; jobs in flight will expire and be retried once it is back",
  );
  const settle = settler({ boss, sql: deps.sql, batchSize: options.batchSize, log, outage, stats });
  // Expiry is in seconds: checked once a second, on one timer for every job in flight.
  const after = deadlines(1000);

  const channel = await notifyChannel(input.listenSql);
  // After a reconnect every queue looks again: jobs sent meanwhile notified nobody.
  const listening = await listenReliably(input.listenSql, channel, {
    onNotify: (queue) => queues.wake(queue),
    onReconnect: () => {
      log.warn("job wake-up listener reconnected");
      queues.wake();
    },
    // Behind a pooler without a direct URL there is nothing to hear: look every poll instead.
    onPoll: () => queues.wake(),
  });

  // A paused queue starts nothing here; its resume wakes its fetch loops at once.
  const pauses = await watchPauses({
    sql: deps.sql,
    listenSql: input.listenSql,
    onResume: (queue) => queues.wake(queue),
  }).catch(async (error) => {
    await listening.stop();
    throw error;
  });

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
      await settle.refuse(fetched, error);
      return "failed";
    }
    const runAt = scheduledFor(fetched.singletonKey);
    // What the handler logs is also kept with the attempt, shown with the job.
    const own = attemptLog(deps.log, attemptNo);
    try {
      // Every change the handler makes is recorded as this job attempt's, and only its.
      const output = await runInRootContext(
        { job_id: fetched.id, job_name: job.name, attempt: attemptNo },
        () =>
          job.handler(parsed.data, {
            ...deps,
            log: own.log,
            id: fetched.id,
            attempt: attemptNo,
            signal: abort.signal,
            ...(runAt ? { scheduledFor: runAt } : {}),
          }),
        { sql: deps.sql },
      );
      await keepLog(fetched.id, own);
      if (abort.signal.aborted) return stopping ? "released" : "expired";
      // A handler's result is kept as the job's output, as pg-boss's own work() keeps it: an
      // object as it is, anything else as { value }.
      settle.complete(
        job.name,
        fetched,
        output === null || output === undefined ? undefined : output as object,
        () => {
          // Its group may start another job once this one is recorded done: look again then.
          if (job.concurrency) queues.wake(job.name);
          // Its children in a flow may start now.
          if (fetched.blocking) resolveFlow();
        },
      );
      return "completed";
    } catch (error) {
      await keepLog(fetched.id, own);
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
      await settle.fail(job.name, fetched, error);
      if (job.concurrency) queues.wake(job.name); // its group has room again
      return willRetry ? "retry" : "failed";
    }
  }

  /** Saves what an attempt logged (if anything); a failure to is logged, and costs the job nothing. */
  async function keepLog(id: string, own: AttemptLog) {
    const taken = own.taken();
    if (taken === undefined) return;
    try {
      await saveJobLog(deps.sql, id, taken);
    } catch (error) {
      if (!outage(error)) log.warn("saving a job attempt's log failed", { id, error });
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
        free.release();
      }
    })();
    running.set(fetched.id, { attempt: ref, queue: job.name, abort, done });
  }

  async function fetchLoop(job: AnyJob, batchSize: number) {
    while (!stopping) {
      // Another loop may take the freed slots first: wait until one is really ours.
      while (free.free <= 0 && !stopping) await free.wait();
      if (stopping) break;
      if (pauses.has(job.name)) {
        await queues.idle(job.name);
        continue;
      }
      const want = free.reserve(batchSize);
      let batch: JobWithMetadata<unknown>[];
      let claimed: number;
      let retryAt: Date | undefined;
      try {
        if (isLimited(job)) {
          ({ jobs: batch, claimed, retryAt } = await limitedFetch({
            sql: deps.sql,
            boss,
            job,
            want,
            wrapDb: tracing?.capture,
          }));
        } else {
          batch = await boss.fetch(job.name, {
            batchSize: want,
            includeMetadata: true,
            ...tracing?.fetchOptions,
          });
          claimed = batch.length;
        }
      } catch (error) {
        free.release(want);
        if (!outage(error)) log.error("fetching jobs failed; retrying", { queue: job.name, error });
        await queues.idle(job.name);
        continue;
      }
      free.release(want - batch.length);
      if (stopping) {
        free.release(batch.length);
        // Fetched as we were told to stop: hand them straight back.
        await Promise.all(batch.map((j) => settle.fail(job.name, j, new Error(RELEASE_MESSAGE))));
        break;
      }
      if (batch.length === 0) {
        // A spent queue-wide rate: nothing may start before its window ends, whatever arrives.
        if (retryAt) await queues.sleep(retryAt.getTime() - Date.now());
        // A per-key rate put everything it claimed back: the next fetch passes over those.
        else if (claimed === 0) await queues.idle(job.name);
        continue;
      }
      for (const fetched of batch) run(job, fetched);
    }
  }

  const loopsPerQueue = Math.max(
    1,
    Math.min(MAX_FETCH_LOOPS, Math.floor(options.concurrency / options.batchSize)),
  );
  // A limited queue's fetches take turns across all workers (see limits.ts): one loop fetching
  // the batches of all would get no less done, with fewer round trips.
  const loops = jobs.flatMap((job) =>
    isLimited(job) && job.concurrency
      ? [fetchLoop(job, options.batchSize * loopsPerQueue)]
      : Array.from({ length: loopsPerQueue }, () => fetchLoop(job, options.batchSize))
  );
  log.info("worker started", {
    queues: jobs.map((j) => j.name),
    concurrency: options.concurrency,
    batch: options.batchSize,
  });

  return {
    stats,
    async stop() {
      stopping = true;
      queues.wake();
      free.close();
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
        await Promise.all(
          left.map((r) => settle.fail(r.queue, r.attempt, new Error(RELEASE_MESSAGE))),
        );
      }
      await settle.drain();
      await listening.stop();
      await pauses.stop();
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
