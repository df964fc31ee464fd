/**
 * `maintenance`: hourly clean-up of expired reset tokens, stale throttle
 * counters, expired idempotency keys, the logs of jobs pg-boss no longer
 * keeps, finished job batches after a week, the email log older than
 * `EMAIL_LOG_RETENTION_DAYS`, app channel messages older than
 * `EVENTS_CHANNEL_RETENTION_HOURS`, expired stream tickets, and audit history older than
 * `HISTORY_RETENTION_DAYS`; and it catches up on job ends no worker saw
 * (batch members, dependents of a failed job).
 *
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db/client.ts";
import { deleteEmailLogBefore } from "../db/email_log.ts";
import { deleteOrphanJobLogs } from "../db/job_logs.ts";
import { deleteEventsBefore, deleteOrphanContexts } from "../db/history.ts";
import { deleteStaleSessions } from "../db/console_sessions.ts";
import { deleteExpiredKeys } from "../db/idempotency_keys.ts";
import { deleteStale } from "../db/rate_limits.ts";
import { deleteStaleResetTokens } from "../db/reset_tokens.ts";
import { deleteFinishedBatches } from "../db/job_batches.ts";
import { deleteExpiredTickets, deleteLogBefore } from "../db/live_events.ts";
import { currentJobClient } from "./client.ts";
import { defineJob } from "./define.ts";
import { reconcileEndings } from "./endings.ts";

// As long as pg-boss keeps a finished job by default (its deleteAfterSeconds).
const BATCH_RETENTION_DAYS = 7;

// Longer than the longest throttle window (one hour), so no live count is cut short.
const RATE_LIMIT_MAX_AGE_SECONDS = 2 * 3600;

// Small enough that one batch holds locks and WAL briefly; deletes loop until done.
const DELETE_BATCH = 5000;
// A context younger than this may belong to a transaction still in flight.
const ORPHAN_CONTEXT_MIN_AGE_MS = 3600 * 1000;

/** Deletes `delete(batch)` batches until one comes back short or `signal` aborts. */
async function inBatches(delete_: () => Promise<number>, signal: AbortSignal): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await delete_();
    total += n;
    if (n < DELETE_BATCH || signal.aborted) return total;
  }
}

/** Deletes events older than `days` and contexts no event points at any more. */
export async function pruneHistory(sql: Sql, days: number, signal: AbortSignal) {
  const cutoff = new Date(Date.now() - days * 86_400_000);
  const events = await inBatches(() => deleteEventsBefore(sql, cutoff, DELETE_BATCH), signal);
  const orphansBefore = new Date(
    Math.min(cutoff.getTime(), Date.now() - ORPHAN_CONTEXT_MIN_AGE_MS),
  );
  const contexts = await inBatches(
    () => deleteOrphanContexts(sql, orphansBefore, DELETE_BATCH),
    signal,
  );
  return { events, contexts };
}

/** Deletes rows that no longer mean anything. */
export const maintenance = defineJob({
  name: "maintenance",
  schema: z.object({}),
  policy: { retryLimit: 1, expireInSeconds: 300, singleton: true },
  schedules: [{ cron: "17 * * * *", data: {} }],
  async handler(_data, { sql, log, config, signal }) {
    const tokens = await deleteStaleResetTokens(sql);
    const counters = await deleteStale(sql, RATE_LIMIT_MAX_AGE_SECONDS);
    const idempotencyKeys = await deleteExpiredKeys(sql, config.idempotencyTtlHours);
    const sessions = await deleteStaleSessions(sql, config.consoleIdleMinutes);
    const emailCutoff = new Date(Date.now() - config.emailLogRetentionDays * 86_400_000);
    const emails = await inBatches(
      () => deleteEmailLogBefore(sql, emailCutoff, DELETE_BATCH),
      signal,
    );
    // Jobs pg-boss's retention removed take their logs along, an hour later at the soonest.
    const jobLogs = await inBatches(
      () =>
        deleteOrphanJobLogs(sql, new Date(Date.now() - ORPHAN_CONTEXT_MIN_AGE_MS), DELETE_BATCH),
      signal,
    );
    // Ends no worker saw (a job failed by its expiry): batches counted, dependents cancelled.
    const endings = await reconcileEndings({ sql, boss: currentJobClient().boss });
    // Finished batches are kept as long as pg-boss keeps finished jobs by default.
    const batches = await deleteFinishedBatches(
      sql,
      new Date(Date.now() - BATCH_RETENTION_DAYS * 86_400_000),
    );
    const messageCutoff = new Date(Date.now() - config.events.channelRetentionHours * 3_600_000);
    const channelMessages = await inBatches(
      () => deleteLogBefore(sql, "messages", { before: messageCutoff, batch: DELETE_BATCH }),
      signal,
    );
    const tickets = await deleteExpiredTickets(sql);
    const history = config.historyRetentionDays === undefined
      ? { events: 0, contexts: 0 }
      : await pruneHistory(sql, config.historyRetentionDays, signal);
    log.info("maintenance done", {
      reset_tokens_deleted: tokens,
      rate_limits_deleted: counters,
      idempotency_keys_deleted: idempotencyKeys,
      console_sessions_deleted: sessions,
      email_log_deleted: emails,
      job_logs_deleted: jobLogs,
      batch_members_counted: endings.members,
      dependents_cancelled: endings.dependents,
      batches_finished: endings.batches,
      batches_deleted: batches,
      channel_messages_deleted: channelMessages,
      event_tickets_deleted: tickets,
      history_events_deleted: history.events,
      history_contexts_deleted: history.contexts,
    });
    return {
      tokens,
      counters,
      sessions,
      emails,
      jobLogs,
      endings,
      batches,
      channelMessages,
      tickets,
      history,
    };
  },
});
