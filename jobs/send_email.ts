/**
 * `send-email`: every email goes through the queue, so a mail server that is
 * down means retries with backoff, never a lost email or a failed request.
 * Each attempt leaves a row in the email log.
 *
 * @module
 */
import { z } from "zod";
import { logEmail, type NewEmailLogEntry } from "../db/email_log.ts";
import type { RenderedEmail } from "../emails/render.ts";
import { defineJob } from "./define.ts";
import type { JobContext, JobPolicy } from "./spec.ts";

/**
 * How every email job retries: about two hours of backoff (10 s doubling, capped at 30 min)
 * before the dead-letter queue, long enough to ride out a mail provider's outage or a deploy of
 * the relay; a stuck SMTP conversation is abandoned and retried after two minutes.
 */
export const EMAIL_RETRY_POLICY: JobPolicy = {
  retryLimit: 10,
  retryDelay: 10,
  retryBackoff: true,
  retryDelayMax: 1800,
  expireInSeconds: 120,
};

// A transport's error can be long (a stack of SMTP dialogue); the log keeps its gist.
const MAX_ERROR_CHARS = 1000;

/** The log row is a record, not the send: failing to write it must not send the email twice. */
async function record(ctx: JobContext, entry: NewEmailLogEntry): Promise<void> {
  try {
    await logEmail(ctx.sql, entry);
  } catch (error) {
    ctx.log.warn("email log row not written", {
      to: entry.to,
      status: entry.status,
      error: String(error),
    });
  }
}

/**
 * Sends `email` to `to` from a job's handler and logs the attempt (sent,
 * skipped when email is off, or failed, then rethrown so the job retries).
 * `userId` names the account when the address alone does not (an old one).
 */
export async function deliverEmail(
  ctx: JobContext,
  to: string,
  email: RenderedEmail,
  userId?: string,
): Promise<void> {
  const entry = {
    template: email.template ?? null,
    to,
    subject: email.subject,
    transport: ctx.mailer.transport,
    attempt: ctx.attempt,
    job_id: ctx.id,
    user_id: userId,
  };
  let result;
  try {
    result = await ctx.mailer.send(to, email);
  } catch (error) {
    const reply = (error as { response?: unknown }).response;
    await record(ctx, {
      ...entry,
      status: "failed",
      message_id: null,
      smtp_response: typeof reply === "string" ? reply : null,
      error: (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_CHARS),
    });
    throw error;
  }
  await record(ctx, {
    ...entry,
    status: result.status,
    message_id: result.messageId ?? null,
    smtp_response: result.response ?? null,
    error: null,
  });
}

/** Sends one rendered email through the configured transport. */
export const sendEmail = defineJob({
  name: "send-email",
  schema: z.object({
    to: z.email(),
    template: z.string().max(100).optional(),
    subject: z.string().min(1).max(998),
    html: z.string(),
    text: z.string(),
    /** The account it is about, when the address does not say (e.g. an old address). */
    userId: z.uuid().optional(),
  }),
  policy: {
    ...EMAIL_RETRY_POLICY,
    // Payloads hold rendered emails (no secrets: recovery links go through password-recovery,
    // which mints them in the worker); still, keep people's mail out of the archive.
    deleteAfterSeconds: 3600,
  },
  async handler({ to, userId, ...email }, ctx) {
    await deliverEmail(ctx, to, email, userId);
  },
});
