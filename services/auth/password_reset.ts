/**
 * Setting a new password with a reset token (`POST /reset-password/`):
 * cheap to refuse, throttled per client, and used exactly once.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { Sql } from "../../db/client.ts";
import { consumeResetToken, deleteResetTokens, resetTokenUser } from "../../db/reset_tokens.ts";
import { getUserById, updateUser } from "../../db/users.ts";
import { HttpError } from "../../lib/http_error.ts";
import { hashPassword } from "../../lib/password.ts";
import { consume, refund, throttlePolicies } from "./throttle.ts";

/**
 * Uses a reset token: exactly once, before it expires, for an active user.
 * Sets the new password, revokes tokens and other reset links. Throws the
 * documented 400s; on failure the token stays unused. A bad token costs one
 * SHA-256 and one indexed read, and counts against the client (429 past the
 * limit): only a live token's new password is hashed.
 */
export async function resetPassword(
  sql: Sql,
  config: Pick<Config, "throttle">,
  attempt: { token: string; newPassword: string; client: string },
): Promise<void> {
  const limit = throttlePolicies(config.throttle).resetPerClient;
  await consume(sql, limit, attempt.client, "password reset attempts");
  const holder = await resetTokenUser(sql, attempt.token);
  const user = holder === undefined ? undefined : await getUserById(sql, holder);
  if (user === undefined) throw new HttpError(400, "Invalid token");
  // A live token was no failure of the client's, whatever follows.
  await refund(sql, limit, attempt.client);
  if (!user.is_active) throw new HttpError(400, "Inactive user");
  const hashed = await hashPassword(attempt.newPassword);
  await sql.begin(async (tx) => {
    // Used meanwhile (two requests with one token): the other one won.
    if (await consumeResetToken(tx, attempt.token) !== user.id) {
      throw new HttpError(400, "Invalid token");
    }
    const current = await getUserById(tx, user.id);
    if (current === undefined) throw new HttpError(400, "Invalid token");
    if (!current.is_active) throw new HttpError(400, "Inactive user");
    await updateUser(tx, user.id, { hashed_password: hashed, revokeTokens: true });
    await deleteResetTokens(tx, user.id);
  });
}
