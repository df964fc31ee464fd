/**
 * Batches: jobs sent together whose callback job runs once, when every member ended, with how many
 * completed, failed (after their last retry) and were cancelled. Tusk's own (`job_batches`): pg-boss
 * has no batches. Workers count each member as they settle it, in one statement with the rest of
 * their bookkeeping; the member that ends the batch marks it finished and sends the callback in one
 * transaction, so the callback is sent exactly once, whichever workers ran the members.
 *
 * @module
 */
import { z } from "zod";
import type { Tx } from "../db/client.ts";
import { insertBatch } from "../db/job_batches.ts";
import { currentJobClient, JobPayloadError, validate } from "./client.ts";
import type { AnyJob } from "./spec.ts";

/** What a batch's callback gets as `batch` beside its own data: add it to the callback's schema. */
export const BatchOutcome = z.object({
  id: z.uuid(),
  name: z.string(),
  total: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});

/** A member of a batch: a job and its payload. */
export interface BatchMember {
  job: AnyJob;
  data: unknown;
  priority?: number;
}

/** What {@link batch} takes besides its members. */
export interface BatchOptions {
  /** The job sent, once, when every member ended; its data gets `batch` (see {@link BatchOutcome}). */
  onComplete?: { job: AnyJob; data?: Record<string, unknown> };
  /** Send the batch in this transaction: a rollback leaves none of it. */
  tx?: Tx;
}

/**
 * Sends `members` as batch `name` (all or none) and resolves with the batch id and its members'
 * job ids, in order. Every payload, and the callback's data with a `batch`, is checked first.
 *
 * @example
 * ```ts
 * const { id } = await batch("import-2026-12", rows.map((row) => ({ job: importRow, data: row })), {
 *   onComplete: { job: importDone, data: { uploadId } },
 * });
 * ```
 */
export async function batch(
  name: string,
  members: BatchMember[],
  options: BatchOptions = {},
): Promise<{ id: string; jobIds: string[] }> {
  if (typeof name !== "string" || name === "") {
    throw new TypeError("A batch needs a name (a non-empty string)");
  }
  if (members.length === 0) throw new RangeError(`Batch ${name} has no members`);
  const id = crypto.randomUUID();
  const callback = options.onComplete;
  if (callback) {
    // The data it will get, with a made-up outcome: refused now rather than when the batch ends.
    const sample = { id, name, total: members.length, completed: 0, failed: 0, cancelled: 0 };
    const checked = callback.job.schema.safeParse({ ...callback.data, batch: sample });
    if (!checked.success) throw new JobPayloadError(callback.job.name, checked.error);
  }
  for (const member of members) validate(member.job, member.data);
  const client = currentJobClient();
  const send = async (tx: Tx) => {
    const sent = [];
    for (const member of members) {
      const jobId = crypto.randomUUID();
      await client.enqueue(member.job, member.data, {
        tx,
        id: jobId,
        delaySeconds: 0,
        ...(member.priority !== undefined ? { priority: member.priority } : {}),
      });
      sent.push({ id: jobId, queue: member.job.name });
    }
    await insertBatch(tx, {
      id,
      name,
      members: sent,
      ...(callback ? { onComplete: { queue: callback.job.name, data: callback.data ?? {} } } : {}),
    });
    return { id, jobIds: sent.map((m) => m.id) };
  };
  return options.tx ? await send(options.tx) : await client.sql.begin(send);
}
