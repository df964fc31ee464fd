/**
 * Stream tickets: a browser's `EventSource` cannot send an Authorization
 * header, and an access token in a URL ends up in logs and histories. So a
 * client trades its bearer token for a ticket (random, short-lived, single
 * use, stored only as a hash) and opens `GET /events?ticket=...` with it.
 *
 * @module
 */
import type { Sql } from "../../db/client.ts";
import { insertTicket, takeTicket } from "../../db/live_events.ts";
import { digest, randomToken } from "../../db/tokens.ts";
import { getUserById, type User } from "../../db/users.ts";
import { HttpError } from "../../lib/http_error.ts";

/** Issues a ticket for `user` (as authenticated now), valid for `seconds`. */
export async function issueTicket(
  sql: Sql,
  user: Pick<User, "id" | "token_version">,
  seconds: number,
): Promise<{ ticket: string; expires_in: number }> {
  const ticket = randomToken();
  await insertTicket(sql, {
    hash: await digest(ticket),
    userId: user.id,
    tokenVersion: user.token_version,
    expiresAt: new Date(Date.now() + seconds * 1000),
  });
  return { ticket, expires_in: seconds };
}

/**
 * Uses up `ticket`: its user, still active, with tokens not revoked since it
 * was issued. 403 for an unknown, used or expired ticket, or a user who lost access.
 */
export async function redeemTicket(sql: Sql, ticket: string): Promise<User> {
  const taken = await takeTicket(sql, await digest(ticket));
  const user = taken === undefined ? undefined : await getUserById(sql, taken.user_id);
  if (user === undefined || user.token_version !== taken!.token_version) {
    throw new HttpError(403, "Invalid or expired ticket");
  }
  if (!user.is_active) throw new HttpError(400, "Inactive user");
  return user;
}
