/**
 * The `password_reset_tokens` table. Tokens are random, stored only as a
 * SHA-256, expire, and are used at most once.
 *
 * @module
 */
import { digest, randomToken } from "./tokens.ts";
import type { Sql, Tx } from "./client.ts";

/** Creates a token for `userId` valid for `hours`; returns the token to email. */
export async function createResetToken(
  sql: Sql | Tx,
  userId: string,
  hours: number,
): Promise<string> {
  const token = randomToken();
  await sql`
    insert into password_reset_tokens (token_hash, user_id, expires_at)
    values (${await digest(token)}, ${userId}, now() + make_interval(hours => ${hours}))
  `;
  return token;
}

/**
 * Like {@link createResetToken}, but first deletes the user's unused tokens
 * (in one transaction), so only the newest link works.
 */
export async function replaceResetToken(sql: Sql, userId: string, hours: number): Promise<string> {
  return await sql.begin(async (tx) => {
    await tx`delete from password_reset_tokens where user_id = ${userId} and used_at is null`;
    return await createResetToken(tx, userId, hours);
  });
}

/** The user id of a live token (unused, unexpired), or undefined; the token stays unused. */
export async function resetTokenUser(sql: Sql | Tx, token: string): Promise<string | undefined> {
  const [row] = await sql<{ user_id: string }[]>`
    select user_id from password_reset_tokens
    where token_hash = ${await digest(token)} and used_at is null and expires_at > now()
  `;
  return row?.user_id;
}

/**
 * Marks the token used and returns its user id, or undefined when it is
 * unknown, expired or already used. Of two concurrent calls, one wins.
 */
export async function consumeResetToken(sql: Sql | Tx, token: string): Promise<string | undefined> {
  const [row] = await sql<{ user_id: string }[]>`
    update password_reset_tokens set used_at = now()
    where token_hash = ${await digest(token)} and used_at is null and expires_at > now()
    returning user_id
  `;
  return row?.user_id;
}

/** Invalidates every reset token of a user (after a password change). */
export async function deleteResetTokens(sql: Sql | Tx, userId: string): Promise<void> {
  await sql`delete from password_reset_tokens where user_id = ${userId}`;
}

/** Deletes tokens that expired or were used more than a day ago; returns how many. */
export async function deleteStaleResetTokens(sql: Sql | Tx): Promise<number> {
  const rows = await sql`
    delete from password_reset_tokens
    where expires_at < now() - interval '1 day' or used_at < now() - interval '1 day'
    returning 1
  `;
  return rows.length;
}
