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
import { replaceResetToken } from "../db/reset_tokens.ts";
import { getUserById } from "../db/users.ts";
import { type RenderedEmail, renderEmail } from "../emails/render.ts";
import { defineJob } from "./define.ts";
import { deliverEmail, EMAIL_RETRY_POLICY } from "./send_email.ts";

/** What the preview shows in place of a token: it works nowhere. */
export const PREVIEW_TOKEN = "preview-only-this-is-not-a-token";

/** The recovery email for `user` carrying `token` (rendering only; nothing is stored). */
export function renderRecoveryEmail(
  config: Config,
  user: { email: string },
  token: string,
): RenderedEmail {
  const hours = config.emailResetTokenExpireHours;
  return renderEmail("reset_password", {
    project_name: config.projectName,
    username: user.email,
    email: user.email,
    link: `${config.frontendHost}/reset-password?token=${encodeURIComponent(token)}`,
    valid_hours: hours,
    valid_for: `${hours} hour${hours === 1 ? "" : "s"}`,
  });
}

/**
 * The recovery email for `user` with a fresh token, which replaces the
 * user's older unused tokens, so only the newest link works.
 */
async function recoveryEmail(
  sql: Sql,
  config: Config,
  user: { id: string; email: string },
): Promise<RenderedEmail> {
  const token = await replaceResetToken(sql, user.id, config.emailResetTokenExpireHours);
  return renderRecoveryEmail(config, user, token);
}

/** Emails a password reset link to the user (if they still exist). */
export const passwordRecovery = defineJob({
  name: "password-recovery",
  schema: z.object({ userId: z.uuid() }),
  // Each retry mints a new token that replaces the last, so at most one link is ever live.
  policy: EMAIL_RETRY_POLICY,
  async handler({ userId }, ctx) {
    const { sql, config, log } = ctx;
    const user = await getUserById(sql, userId);
    if (user === undefined) {
      log.info("password recovery skipped: the user is gone", { user_id: userId });
      return;
    }
    await deliverEmail(ctx, user.email, await recoveryEmail(sql, config, user), user.id);
  },
});
