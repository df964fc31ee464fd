/**
 * The `idempotency_keys` table: each user's keys with the response first
 * given to them, kept for `IDEMPOTENCY_TTL_HOURS`.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A stored response, as replayed. */
export interface StoredResponse {
  request_hash: string;
  /** Whether the user was a superuser when the response was made. */
  as_superuser: boolean;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Claims `key` for this transaction: false when another transaction holds
 * it (the same request is still running). Released at commit or rollback.
 */
export async function claimKey(tx: Tx, userId: string, key: string): Promise<boolean> {
  const [row] = await tx<{ claimed: boolean }[]>`
    select pg_try_advisory_xact_lock(hashtextextended(${userId} || ' ' || ${key}, 0)) as claimed`;
  return row!.claimed;
}

/** The response stored for `key` within the last `ttlHours`, if any. */
export async function findResponse(
  tx: Tx,
  userId: string,
  key: string,
  ttlHours: number,
): Promise<StoredResponse | undefined> {
  const [row] = await tx<StoredResponse[]>`
    select request_hash, as_superuser, status, headers, body from idempotency_keys
    where user_id = ${userId} and key = ${key}
      and created_at > now() - make_interval(hours => ${ttlHours})`;
  return row;
}

/** Stores the response to `key`, replacing an expired one. */
export async function storeResponse(
  tx: Tx,
  entry: StoredResponse & { user_id: string; key: string; method: string; path: string },
): Promise<void> {
  await tx`
    insert into idempotency_keys
      (user_id, key, request_hash, as_superuser, method, path, status, headers, body)
    values (${entry.user_id}, ${entry.key}, ${entry.request_hash}, ${entry.as_superuser},
            ${entry.method}, ${entry.path}, ${entry.status}, ${
    tx.json(entry.headers)
  }, ${entry.body})
    on conflict (user_id, key) do update set
      request_hash = excluded.request_hash, as_superuser = excluded.as_superuser,
      method = excluded.method, path = excluded.path,
      status = excluded.status, headers = excluded.headers, body = excluded.body,
      created_at = now()`;
}

/** Deletes keys older than `ttlHours`; returns how many. */
export async function deleteExpiredKeys(sql: Sql, ttlHours: number): Promise<number> {
  const result = await sql`
    delete from idempotency_keys where created_at <= now() - make_interval(hours => ${ttlHours})`;
  return result.count;
}
