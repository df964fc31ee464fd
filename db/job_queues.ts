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
