/**
 * The `job_batches` and `job_batch_members` tables: a batch's members, how many ended each way,
 * and its callback, sent once. Members are counted by `recordSettled()` (job_outcomes.ts).
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A batch as its callback and the job API see it. */
export interface BatchRow {
  id: string;
  name: string;
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  on_complete_queue: string | null;
  on_complete_data: Record<string, unknown> | null;
  callback_job_id: string | null;
  created_at: Date;
  finished_at: Date | null;
}

/** Creates batch `id` of `members` (sent in the same transaction). */
export async function insertBatch(
  tx: Tx,
  batch: {
    id: string;
    name: string;
    members: { id: string; queue: string }[];
    onComplete?: { queue: string; data: object };
  },
): Promise<void> {
  await tx`
    insert into job_batches (id, name, total, on_complete_queue, on_complete_data)
    values (${batch.id}, ${batch.name}, ${batch.members.length},
      ${batch.onComplete?.queue ?? null}, ${tx.json((batch.onComplete?.data ?? null) as never)})`;
  await tx`
    insert into job_batch_members (job_id, batch_id, queue)
    select id, ${batch.id}, queue
    from unnest(${batch.members.map((m) => m.id)}::uuid[], ${
    batch.members.map((m) => m.queue)
  }::text[]) as m (id, queue)`;
}

/**
 * Marks batch `id` finished, if every member ended and nobody marked it yet, naming the callback
 * job `callbackId` (when it has a callback); resolves with the batch only for the one who did.
 */
export async function claimFinish(tx: Tx, id: string, callbackId: string) {
  const [row] = await tx<BatchRow[]>`
    update job_batches set finished_at = now(),
      callback_job_id = case when on_complete_queue is null then null else ${callbackId}::uuid end
    where id = ${id} and finished_at is null and completed + failed + cancelled = total
    returning *`;
  return row;
}

/** The batch job `jobId` belongs to, if any. */
export async function batchOf(sql: Sql, jobId: string): Promise<BatchRow | undefined> {
  const [row] = await sql<BatchRow[]>`
    select b.* from job_batch_members m join job_batches b on b.id = m.batch_id
    where m.job_id = ${jobId}`;
  return row;
}

/** Batch `id`, if it exists. */
export async function findBatch(sql: Sql, id: string): Promise<BatchRow | undefined> {
  const [row] = await sql<BatchRow[]>`select * from job_batches where id = ${id}`;
  return row;
}

/** Members whose job ended (or is gone) without a worker counting it, by how it ended. */
export async function uncountedMembers(sql: Sql) {
  return await sql<{ job_id: string; outcome: "completed" | "failed" | "cancelled" }[]>`
    select m.job_id, case
        when j.state = 'completed' then 'completed'
        when j.state = 'failed' then 'failed'
        else 'cancelled' end as outcome
    from job_batch_members m
    left join pgboss.job j on j.name = m.queue and j.id = m.job_id
    where m.outcome is null and (j.id is null or j.state in ('completed', 'failed', 'cancelled'))`;
}

/** Batches whose members all ended but that nobody finished (a worker stopped in between). */
export async function unfinishedEnded(sql: Sql): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from job_batches
    where finished_at is null and completed + failed + cancelled = total`;
  return rows.map((r) => r.id);
}

/** Deletes batches finished before `before` (their members with them); resolves with how many. */
export async function deleteFinishedBatches(sql: Sql, before: Date): Promise<number> {
  const rows = await sql`delete from job_batches where finished_at < ${before} returning 1`;
  return rows.length;
}
