/**
 * The `users` table: one function per query.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A row of `users`. */
export interface User {
  id: string;
  email: string;
  hashed_password: string;
  full_name: string | null;
  is_active: boolean;
  is_superuser: boolean;
  created_at: Date;
  /** Bumped to revoke every token issued before. */
  token_version: number;
}

/** Fields a caller may set on create. */
export interface NewUser {
  email: string;
  hashed_password: string;
  full_name?: string | null;
  is_active?: boolean;
  is_superuser?: boolean;
}

/** Fields a caller may change; `revokeTokens` bumps the token version. */
export interface UserChanges {
  email?: string;
  hashed_password?: string;
  full_name?: string | null;
  is_active?: boolean;
  is_superuser?: boolean;
  revokeTokens?: boolean;
}

/** Looks a user up by id. */
export async function getUserById(sql: Sql | Tx, id: string): Promise<User | undefined> {
  const [user] = await sql<User[]>`select * from users where id = ${id}`;
  return user;
}

/** Looks a user up by email, ignoring case. */
export async function getUserByEmail(sql: Sql | Tx, email: string): Promise<User | undefined> {
  const [user] = await sql<User[]>`select * from users where lower(email) = lower(${email})`;
  return user;
}

/** Inserts a user; a duplicate email raises a unique violation (23505). */
export async function createUser(sql: Sql | Tx, user: NewUser): Promise<User> {
  const [row] = await sql<User[]>`
    insert into users (email, hashed_password, full_name, is_active, is_superuser)
    values (${user.email}, ${user.hashed_password}, ${user.full_name ?? null},
            ${user.is_active ?? true}, ${user.is_superuser ?? false})
    returning *
  `;
  return row!;
}

/** Inserts the user unless one with that email exists; true when inserted. */
export async function createUserIfAbsent(sql: Sql | Tx, user: NewUser): Promise<boolean> {
  const rows = await sql`
    insert into users (email, hashed_password, full_name, is_active, is_superuser)
    values (${user.email}, ${user.hashed_password}, ${user.full_name ?? null},
            ${user.is_active ?? true}, ${user.is_superuser ?? false})
    on conflict (lower(email)) do nothing
    returning id
  `;
  return rows.length > 0;
}

/** Applies `changes`; undefined when no such user. */
export async function updateUser(
  sql: Sql | Tx,
  id: string,
  changes: UserChanges,
): Promise<User | undefined> {
  const { revokeTokens, ...fields } = changes;
  const columns = (Object.keys(fields) as (keyof typeof fields)[]).filter((k) =>
    fields[k] !== undefined
  );
  const bump = revokeTokens ? 1 : 0;
  // postgres.js formats sql(object) as an update list only right after the keyword `set`.
  const [row] = columns.length > 0
    ? await sql<User[]>`
        update users set ${sql(fields, columns)}, token_version = token_version + ${bump}
        where id = ${id} returning *`
    : await sql<User[]>`
        update users set token_version = token_version + ${bump} where id = ${id} returning *`;
  return row;
}

/** Deletes a user (their items and tokens go by cascade); true when one was deleted. */
export async function deleteUser(sql: Sql | Tx, id: string): Promise<boolean> {
  const rows = await sql`delete from users where id = ${id} returning id`;
  return rows.length > 0;
}

/** A page of users, newest first, and the total count; `email` keeps those whose email contains it. */
export async function listUsers(
  sql: Sql | Tx,
  page: { skip: number; limit: number; email?: string },
): Promise<{ data: User[]; count: number }> {
  // The search is a plain substring: % and _ in it match themselves.
  const where = page.email ? sql`where strpos(lower(email), lower(${page.email})) > 0` : sql``;
  const [total] = await sql<{ count: number }[]>`select count(*)::int as count from users ${where}`;
  const data = await sql<User[]>`
    select * from users ${where}
    order by created_at desc, id desc offset ${page.skip} limit ${page.limit}
  `;
  return { data, count: total!.count };
}

/**
 * Serialises every change that could remove a superuser, then counts the
 * active superusers other than `exceptId`. Call inside a transaction.
 */
export async function otherActiveSuperusers(tx: Tx, exceptId: string): Promise<number> {
  await tx`select pg_advisory_xact_lock(hashtext('tusk:superusers'))`;
  const [row] = await tx<{ count: number }[]>`
    select count(*)::int as count from users where is_superuser and is_active and id <> ${exceptId}
  `;
  return row!.count;
}

/** Whether any active superuser exists. */
export async function hasActiveSuperuser(sql: Sql | Tx): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`
    select exists (select 1 from users where is_superuser and is_active) as found`;
  return row!.found;
}

/** The emails of the users with these ids (deleted ones are missing). */
export async function emailsByIds(sql: Sql | Tx, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; email: string }[]>`
    select id, email from users where id = any(${ids}::uuid[])`;
  return new Map(rows.map((r) => [r.id, r.email]));
}
