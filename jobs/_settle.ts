/**
 * A worker's bookkeeping with pg-boss: completing jobs (those without an
 * output in batches, one round trip for a fetched batch), failing them, and
 * failing for good a job whose stored payload its schema refuses. During an
 * outage each failure is logged once, by `outage`; the jobs expire and retry.
 * What settled goes on to `jobsEnded()`: announced for whoever awaits it,
 * counted by its batch, its dependents cancelled when it failed for good.
 *
 * @module
 */
import type { JobWithMetadata, PgBoss } from "pg-boss";
import type { Sql } from "../db/client.ts";
import { useUpRetries } from "../db/jobs.ts";
import { jobOutcome, type Outcome } from "../db/job_outcomes.ts";
import { reportError } from "../lib/error_reports.ts";
import type { Logger } from "../lib/logging.ts";
import type { JobPayloadError } from "./client.ts";
import { txAdapter } from "./tx_adapter.ts";
import { jobsEnded } from "./endings.ts";

/** One fetched attempt of a job, as pg-boss fences its settling. */
export interface Attempt {
  id: string;
  retryCount: number;
}

/** Settles a worker's jobs. */
export interface Settler {
  /**
   * Completes the attempt: at once with `output`, else in the next batch; `onSettled` runs once
   * the completion is written (or has failed).
   */
  complete(queue: string, attempt: Attempt, output?: object, onSettled?: () => void): void;
  /** Fails the attempt (retried per its policy). */
  fail(queue: string, attempt: Attempt, error: unknown): Promise<void>;
  /** Fails for good, into the dead-letter queue: no retry would read the payload differently. */
  refuse(fetched: JobWithMetadata<unknown>, error: JobPayloadError): Promise<void>;
  /** Sends the waiting completions, and resolves once every completion sent has settled. */
  drain(): Promise<void>;
}

/** A settler for one worker; `stats` counts what settled. */
export function settler(input: {
  boss: PgBoss;
  sql: Sql;
  batchSize: number;
  log: Logger;
  /** True (and logged once) when `error` is the database being away. */
  outage: (error: unknown) => boolean;
  stats: { completed: number; failed: number };
}): Settler {
  const { boss, log, outage, stats } = input;
  const waiting = new Map<string, Attempt[]>();
  // Called back once the batch holding their completion is written.
  const settled = new Map<string, (() => void)[]>();
  const inFlight = new Set<Promise<void>>();
  let flushScheduled = false;

  function track(promise: Promise<void>) {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise));
  }

  /** Hands settled jobs on to {@link jobsEnded}; what it misses, the catch-up pass finds. */
  function ended(queue: string, outcome: Outcome | undefined, ids: string[]) {
    track(
      jobsEnded(input, queue, outcome, ids).then(() => {}, (error) => {
        if (outage(error)) return;
        log.error("recording the end of jobs failed; the catch-up pass will", { queue, error });
      }),
    );
  }

  /** Completes `attempts` in one round trip, storing `output` (if any) as their output. */
  function send(queue: string, attempts: Attempt[], output?: object, after: (() => void)[] = []) {
    const sent = boss.complete(queue, attempts, output).finally(() => {
      for (const callback of after) callback();
    }).then(
      () => {
        stats.completed += attempts.length;
        ended(queue, "completed", attempts.map((a) => a.id));
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
    track(sent);
  }

  function flush() {
    flushScheduled = false;
    for (const [queue, attempts] of waiting) {
      waiting.delete(queue);
      const after = settled.get(queue) ?? [];
      settled.delete(queue);
      send(queue, attempts, undefined, after);
    }
  }

  function failed(queue: string, id: string, error: unknown) {
    if (outage(error)) return;
    log.error("recording a job failure failed; it will expire and retry", { queue, id, error });
  }

  return {
    complete(queue, attempt, output, onSettled) {
      const ref = { id: attempt.id, retryCount: attempt.retryCount };
      if (output !== undefined) return send(queue, [ref], output, onSettled ? [onSettled] : []);
      const list = waiting.get(queue) ?? [];
      list.push(ref);
      waiting.set(queue, list);
      if (onSettled) settled.set(queue, [...(settled.get(queue) ?? []), onSettled]);
      if (list.length >= input.batchSize) flush();
      else if (!flushScheduled) {
        flushScheduled = true;
        // Completions of one fetched batch finish together: one round trip settles them all.
        setTimeout(flush, 0);
      }
    },
    async fail(queue, attempt, error) {
      const e = error instanceof Error ? error : new Error(String(error));
      try {
        await boss.fail(queue, { id: attempt.id, retryCount: attempt.retryCount }, {
          name: e.name,
          message: e.message,
          stack: e.stack,
        });
        stats.failed++;
        // Retried, or failed for good (its last retry): pg-boss decided, the row says which.
        const now = await jobOutcome(input.sql, queue, attempt.id).catch(() => undefined);
        ended(queue, now?.state === "failed" ? "failed" : undefined, [attempt.id]);
      } catch (failError) {
        failed(queue, attempt.id, failError);
      }
    },
    async refuse(fetched, error) {
      log.error("job failed for good: its payload does not match the schema", {
        job: fetched.name,
        id: fetched.id,
        error: error.message,
      });
      reportError(error, { level: "error", tags: { queue: fetched.name, job_id: fetched.id } });
      const ref = { id: fetched.id, retryCount: fetched.retryCount };
      try {
        await input.sql.begin(async (tx) => {
          await useUpRetries(tx, fetched.name, fetched.id);
          await boss.fail(fetched.name, ref, { name: error.name, message: error.message }, {
            db: txAdapter(tx),
          });
        });
        stats.failed++;
        ended(fetched.name, "failed", [fetched.id]);
      } catch (failError) {
        failed(fetched.name, fetched.id, failError);
      }
    },
    async drain() {
      flush();
      // Until what the completions handed on has settled too.
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
