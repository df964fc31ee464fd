/**
 * `send-email`: every email goes through the queue, so a mail server that is
 * down means retries with backoff, never a lost email or a failed request.
 *
 * @module
 */
import { z } from "zod";
import { defineJob } from "./define.ts";
import type { JobPolicy } from "./spec.ts";

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

/** Sends one rendered email through the configured transport. */
export const sendEmail = defineJob({
  name: "send-email",
  schema: z.object({
    to: z.email(),
    template: z.string().max(100).optional(),
    subject: z.string().min(1).max(998),
    html: z.string(),
    text: z.string(),
  }),
  policy: {
    ...EMAIL_RETRY_POLICY,
    // Payloads hold rendered emails (no secrets: recovery links go through password-recovery,
    // which mints them in the worker); still, keep people's mail out of the archive.
    deleteAfterSeconds: 3600,
  },
  async handler({ to, ...email }, { mailer }) {
    await mailer.send(to, email);
  },
});
