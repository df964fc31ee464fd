/**
 * A worker's bookkeeping with pg-boss: completing jobs (those without an
 * output in batches, one round trip for a fetched batch), failing them, and
 * failing for good a job whose stored payload its schema refuses. During an
 * outage each failure is logged once, by `outage`; the jobs expire and retry.
 *
 * @module
 */
import type { JobWithMetadata, PgBoss } from "pg-boss";
import type { Sql } from "../db/client.ts";
import { useUpRetries } from "../db/jobs.ts";
import { reportError } from "../lib/error_reports.ts";
import type { Logger } from "../lib/logging.ts";
import { type JobPayloadError, txAdapter } from "./client.ts";

/** One fetched attempt of a job, as pg-boss fences its settling. */
export interface Attempt {
  id: string;
  retryCount: number;
}

/** Settles a worker's jobs. */
export interface Settler {
  /** Completes the attempt: at once with `output`, else in the next batch. */
  complete(queue: string, attempt: Attempt, output?: object): void;
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
  const inFlight = new Set<Promise<void>>();
  let flushScheduled = false;

  /** Completes `attempts` in one round trip, storing `output` (if any) as their output. */
  function send(queue: string, attempts: Attempt[], output?: object) {
    const sent = boss.complete(queue, attempts, output).then(
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
    inFlight.add(sent);
    sent.finally(() => inFlight.delete(sent));
  }

  function flush() {
    flushScheduled = false;
    for (const [queue, attempts] of waiting) {
      waiting.delete(queue);
      send(queue, attempts);
    }
  }

  function failed(queue: string, id: string, error: unknown) {
    if (outage(error)) return;
    log.error("recording a job failure failed; it will expire and retry", { queue, id, error });
  }

  return {
    complete(queue, attempt, output) {
      const ref = { id: attempt.id, retryCount: attempt.retryCount };
      if (output !== undefined) return send(queue, [ref], output);
      const list = waiting.get(queue) ?? [];
      list.push(ref);
      waiting.set(queue, list);
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
      } catch (failError) {
        failed(fetched.name, fetched.id, failError);
      }
    },
    async drain() {
      flush();
      await Promise.all([...inFlight]);
    },
  };
}
