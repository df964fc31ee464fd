/**
 * `password-recovery`: creates a reset token and emails its link, inside the
 * worker. The payload holds only the user id, so no reset token or link is
 * ever stored anywhere but as its SHA-256 (not in pg-boss's tables, not in
 * their archive).
 *
 * @module
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import type { Sql } from "../db/client.ts";
import { createResetToken, replaceResetToken } from "../db/reset_tokens.ts";
import { getUserById } from "../db/users.ts";
import { type RenderedEmail, resetPasswordEmail } from "../emails/templates.ts";
import { defineJob } from "./define.ts";
import { EMAIL_RETRY_POLICY } from "./send_email.ts";

/**
 * The recovery email for `user` with a fresh token. `replace` invalidates the
 * user's older unused tokens, so only the newest link works.
 */
export async function recoveryEmail(
  sql: Sql,
  config: Config,
  user: { id: string; email: string },
  options: { replace?: boolean } = {},
): Promise<RenderedEmail> {
  const create = options.replace ? replaceResetToken : createResetToken;
  const token = await create(sql, user.id, config.emailResetTokenExpireHours);
  return resetPasswordEmail({
    projectName: config.projectName,
    email: user.email,
    link: `${config.frontendHost}/reset-password?token=${encodeURIComponent(token)}`,
    validHours: config.emailResetTokenExpireHours,
  });
}

/** Emails a password reset link to the user (if they still exist). */
export const passwordRecovery = defineJob({
  name: "password-recovery",
  schema: z.object({ userId: z.uuid() }),
  // Each retry mints a new token that replaces the last, so at most one link is ever live.
  policy: EMAIL_RETRY_POLICY,
  async handler({ userId }, { sql, config, mailer, log }) {
    const user = await getUserById(sql, userId);
    if (user === undefined) {
      log.info("password recovery skipped: the user is gone", { user_id: userId });
      return;
    }
    await mailer.send(user.email, await recoveryEmail(sql, config, user, { replace: true }));
  },
});
