/**
 * The `console_sessions` table: who is logged in to the ops console. The
 * cookie's token is stored only as a SHA-256.
 *
 * @module
 */
import { digest, randomToken } from "./tokens.ts";
import type { Sql, Tx } from "./client.ts";
import type { User } from "./users.ts";

/** A live session and its user, as {@link findSession} returns it. */
export interface ConsoleSession {
  user: User;
  csrfToken: string;
  lastSeenAt: Date;
}

/** Opens a session for `user` lasting `hours`; returns the cookie's token. */
export async function createSession(sql: Sql | Tx, user: User, hours: number): Promise<string> {
  const token = randomToken();
  await sql`
    insert into console_sessions (token_hash, user_id, token_version, csrf_token, expires_at)
    values (${await digest(token)}, ${user.id}, ${user.token_version}, ${randomToken()},
      now() + make_interval(hours => ${hours}))
  `;
  return token;
}

/**
 * The session for `token` with its user, or undefined when it is unknown,
 * expired, unused for `idleMinutes`, or its user has since been deactivated,
 * demoted or given a new password (each bumps the token version).
 */
export async function findSession(
  sql: Sql | Tx,
  token: string,
  idleMinutes: number,
): Promise<ConsoleSession | undefined> {
  const [row] = await sql<(User & { csrf_token: string; last_seen_at: Date })[]>`
    select u.*, s.csrf_token, s.last_seen_at
    from console_sessions s join users u on u.id = s.user_id
    where s.token_hash = ${await digest(token)} and s.expires_at > now()
      and s.last_seen_at > now() - make_interval(mins => ${idleMinutes})
      and s.token_version = u.token_version and u.is_active and u.is_superuser
  `;
  if (row === undefined) return undefined;
  const { csrf_token, last_seen_at, ...user } = row;
  return { user, csrfToken: csrf_token, lastSeenAt: last_seen_at };
}

/** Records that the session was used now. */
export async function touchSession(sql: Sql | Tx, token: string): Promise<void> {
  await sql`
    update console_sessions set last_seen_at = now() where token_hash = ${await digest(token)}`;
}

/** Ends one session (logout). */
export async function deleteSession(sql: Sql | Tx, token: string): Promise<void> {
  await sql`delete from console_sessions where token_hash = ${await digest(token)}`;
}

/**
 * Deletes sessions that expired, went unused for `idleMinutes`, or whose
 * user's token version moved on; returns how many.
 */
export async function deleteStaleSessions(sql: Sql | Tx, idleMinutes: number): Promise<number> {
  const rows = await sql`
    delete from console_sessions s using users u
    where u.id = s.user_id and (s.expires_at < now() or s.token_version <> u.token_version
      or s.last_seen_at < now() - make_interval(mins => ${idleMinutes}))
    returning 1
  `;
  return rows.length;
}
