/**
 * What follows a job's attempt settling: it is announced (for `run()`), a job that ended for good
 * is counted by its batch, a failed or cancelled one cancels the jobs that depend on it, and a
 * batch whose last member ended sends its callback, exactly once. Workers call this for what they
 * settle, the job API for a cancel, and every worker (each `JOBS_SUPERVISE_INTERVAL_SECONDS`) and
 * `maintenance` for whatever no worker saw end (a job failed by its expiry when its worker died).
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import type { Sql } from "../db/client.ts";
import {
  cancelDependents,
  failedParentsWithWaitingChildren,
  type Outcome,
  recordSettled,
} from "../db/job_outcomes.ts";
import { claimFinish, uncountedMembers, unfinishedEnded } from "../db/job_batches.ts";
import { meter } from "../lib/telemetry.ts";
import { txAdapter } from "./tx_adapter.ts";

// Created on first use: the meter provider is set up when the process starts, not at import.
let counters: ReturnType<typeof createCounters> | undefined;
function createCounters() {
  return {
    cancelled: meter().createCounter("tusk.jobs.dependents_cancelled", {
      description: "Jobs of a flow cancelled because a job they wait on failed or was cancelled.",
      unit: "{job}",
    }),
    batches: meter().createCounter("tusk.job_batches.finished", {
      description: "Job batches whose last member ended (their callback, if any, was sent).",
      unit: "{batch}",
    }),
  };
}

/** What {@link jobsEnded} uses. */
export interface EndingDeps {
  sql: Sql;
  boss: PgBoss;
}

/**
 * Jobs `ids` of `queue` settled: with `outcome` when they ended for good, none when they will be
 * retried. Resolves with the ids of the dependents it cancelled.
 */
export async function jobsEnded(
  deps: EndingDeps,
  queue: string,
  outcome: Outcome | undefined,
  ids: string[],
): Promise<string[]> {
  const ended = await recordSettled(deps.sql, outcome, ids);
  let cancelled: string[] = [];
  if (outcome === "failed" || outcome === "cancelled") {
    const waiting = await cancelWaiting(deps, queue, ids);
    cancelled = waiting.cancelled;
    ended.push(...waiting.ended);
  }
  await finishBatches(deps, ended);
  return cancelled;
}

/**
 * Cancels the jobs waiting on jobs `ids` of `queue` (which failed or were cancelled) and counts
 * them in their batches: the cancelled ids, and the batches that ended with them.
 */
async function cancelWaiting(deps: EndingDeps, queue: string, ids: string[]) {
  const cancelled = await cancelDependents(deps.sql, queue, ids);
  const ended = await recordSettled(deps.sql, "cancelled", cancelled);
  if (cancelled.length > 0) {
    (counters ??= createCounters()).cancelled.add(cancelled.length, {
      "messaging.destination.name": queue,
    });
  }
  return { cancelled, ended };
}

/** Marks each of `batchIds` finished and sends its callback, in one transaction each. */
export async function finishBatches(deps: EndingDeps, batchIds: string[]): Promise<void> {
  for (const id of new Set(batchIds)) {
    await deps.sql.begin(async (tx) => {
      const batch = await claimFinish(tx, id, crypto.randomUUID());
      if (batch) (counters ??= createCounters()).batches.add(1);
      if (!batch?.on_complete_queue || !batch.callback_job_id) return;
      const { id: batchId, name, total, completed, failed, cancelled } = batch;
      await deps.boss.send(batch.on_complete_queue, {
        ...batch.on_complete_data,
        batch: { id: batchId, name, total, completed, failed, cancelled },
      }, { id: batch.callback_job_id, db: txAdapter(tx) });
    });
  }
}

/**
 * Catches up on ends no worker saw: counts batch members whose job ended (or is gone), cancels the
 * dependents of failed jobs, then finishes every batch that ended. Resolves with what it did.
 */
export async function reconcileEndings(deps: EndingDeps) {
  const members = await uncountedMembers(deps.sql);
  for (const outcome of ["completed", "failed", "cancelled"] as const) {
    const ids = members.filter((m) => m.outcome === outcome).map((m) => m.job_id);
    await recordSettled(deps.sql, outcome, ids);
  }
  const parents = Map.groupBy(await failedParentsWithWaitingChildren(deps.sql), (p) => p.queue);
  let dependents = 0;
  for (const [queue, failed] of parents) {
    dependents += (await cancelWaiting(deps, queue, failed.map((p) => p.id))).cancelled.length;
  }
  // Every batch whose members all ended, whoever counted the last of them.
  const finished = await unfinishedEnded(deps.sql);
  await finishBatches(deps, finished);
  return { members: members.length, dependents, batches: finished.length };
}
