/**
 * The `job_queue_controls` table: which queues are paused, and the concurrency and rate limits
 * their code declares (written by `migrate`), for every process to read.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** The channel the table's trigger NOTIFYs (with the queue's name) on every change. */
export const QUEUE_CONTROLS_CHANNEL = "tusk_job_queues";

/** One queue's controls. */
export interface QueueControls {
  queue: string;
  paused: boolean;
  concurrency_limit: number | null;
  concurrency_per_key: boolean;
  rate_limit: number | null;
  rate_seconds: number | null;
  rate_per_key: boolean;
  updated_at: Date;
}

/** The limits a queue's code declares (null and false: none). */
export type QueueLimits = Pick<
  QueueControls,
  "concurrency_limit" | "concurrency_per_key" | "rate_limit" | "rate_seconds" | "rate_per_key"
>;

/** Every queue that has controls. */
export async function listQueueControls(sql: Sql | Tx): Promise<QueueControls[]> {
  return await sql<QueueControls[]>`select * from job_queue_controls order by queue`;
}

/** The names of the paused queues. */
export async function pausedQueues(sql: Sql | Tx): Promise<Set<string>> {
  const rows = await sql<{ queue: string }[]>`
    select queue from job_queue_controls where paused`;
  return new Set(rows.map((r) => r.queue));
}

/** Pauses or resumes `queue` (a queue already so is left alone, and no event is recorded). */
export async function setPaused(sql: Sql | Tx, queue: string, paused: boolean): Promise<void> {
  await sql`
    insert into job_queue_controls as c (queue, paused) values (${queue}, ${paused})
    on conflict (queue) do update set paused = excluded.paused, updated_at = now()
    where c.paused is distinct from excluded.paused`;
}

/**
 * Records the limits `queue`'s code declares, keeping whether it is paused. A queue without
 * limits gets no row (nor an audit event) until it is paused; one whose limits were removed
 * from its code loses them. An unchanged row is not written.
 */
export async function recordQueueLimits(sql: Sql | Tx, queue: string, limits: QueueLimits) {
  const limited = limits.concurrency_limit !== null || limits.rate_limit !== null;
  const unchanged = sql`
    (c.concurrency_limit, c.concurrency_per_key, c.rate_limit, c.rate_seconds, c.rate_per_key)
    is not distinct from (${limits.concurrency_limit}::int, ${limits.concurrency_per_key},
      ${limits.rate_limit}::int, ${limits.rate_seconds}::float8, ${limits.rate_per_key})`;
  if (!limited) {
    await sql`
      update job_queue_controls c set concurrency_limit = null, concurrency_per_key = false,
        rate_limit = null, rate_seconds = null, rate_per_key = false, updated_at = now()
      where c.queue = ${queue} and not ${unchanged}`;
    return;
  }
  await sql`
    insert into job_queue_controls as c (queue, concurrency_limit, concurrency_per_key,
      rate_limit, rate_seconds, rate_per_key)
    values (${queue}, ${limits.concurrency_limit}, ${limits.concurrency_per_key},
      ${limits.rate_limit}, ${limits.rate_seconds}, ${limits.rate_per_key})
    on conflict (queue) do update set
      concurrency_limit = excluded.concurrency_limit,
      concurrency_per_key = excluded.concurrency_per_key,
      rate_limit = excluded.rate_limit,
      rate_seconds = excluded.rate_seconds,
      rate_per_key = excluded.rate_per_key,
      updated_at = now()
    where not ${unchanged}`;
}
