/**
 * The `user_identities` table: which local user an external identity
 * (issuer + subject) is.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A known identity; `user_id` is null once its user was deleted. */
export interface Identity {
  user_id: string | null;
}

/** The identity for `issuer` and `subject`, or undefined on first sight. */
export async function findIdentity(
  sql: Sql | Tx,
  issuer: string,
  subject: string,
): Promise<Identity | undefined> {
  const [row] = await sql<Identity[]>`
    select user_id from user_identities where issuer = ${issuer} and subject = ${subject}`;
  return row;
}

/** Records that `issuer`'s `subject` is user `userId`; false if it was recorded meanwhile. */
export async function linkIdentity(
  sql: Sql | Tx,
  identity: { issuer: string; subject: string; userId: string; email: string },
): Promise<boolean> {
  const rows = await sql`
    insert into user_identities (issuer, subject, user_id, email)
    values (${identity.issuer}, ${identity.subject}, ${identity.userId}, ${identity.email})
    on conflict do nothing
    returning 1`;
  return rows.length === 1;
}
