/**
 * Account rules that span several queries: creating users, changes that
 * revoke tokens, the last-superuser guard, and password resets.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { isUniqueViolation, type Sql } from "../db/client.ts";
import { consumeResetToken, deleteResetTokens } from "../db/reset_tokens.ts";
import {
  createUser,
  createUserIfAbsent,
  deleteUser,
  getUserById,
  type NewUser,
  otherActiveSuperusers,
  updateUser,
  type User,
  type UserChanges,
} from "../db/users.ts";
import { hashPassword } from "./auth/password.ts";
import { HttpError } from "./errors.ts";
import type { Logger } from "./logging.ts";

/** Raised when an email is already taken; routes pick the documented status and message. */
export class EmailTakenError extends Error {
  constructor() {
    super("email already registered");
    this.name = "EmailTakenError";
  }
}

/** What a caller may ask to change; `password` is plain text and gets hashed here. */
export interface AccountChanges {
  email?: string;
  full_name?: string | null;
  is_active?: boolean;
  is_superuser?: boolean;
  password?: string;
}

const LAST_SUPERUSER = "The last active superuser cannot be deleted, deactivated or demoted";

/**
 * Registers a user with a freshly hashed password.
 *
 * @example
 * ```ts
 * const user = await registerUser(sql, { email: "a@b.c", password: "long enough" });
 * ```
 */
export async function registerUser(
  sql: Sql,
  fields: Omit<NewUser, "hashed_password"> & { password: string },
): Promise<User> {
  const { password, ...rest } = fields;
  const hashed_password = await hashPassword(password);
  try {
    return await createUser(sql, { ...rest, hashed_password });
  } catch (error) {
    if (isUniqueViolation(error)) throw new EmailTakenError();
    throw error;
  }
}

/**
 * Applies `changes` to user `id` in one transaction. A new password, losing
 * `is_active` or losing `is_superuser` revokes every token issued before; a
 * change that would leave no active superuser is refused with a 403.
 */
export async function changeUser(
  sql: Sql,
  id: string,
  changes: AccountChanges,
): Promise<User | undefined> {
  const { password, ...fields } = changes;
  const update: UserChanges = { ...fields };
  if (password !== undefined) update.hashed_password = await hashPassword(password);
  try {
    return await sql.begin(async (tx) => {
      const before = await getUserById(tx, id);
      if (before === undefined) return undefined;
      const losesActive = before.is_active && changes.is_active === false;
      const losesSuper = before.is_superuser && changes.is_superuser === false;
      if (before.is_superuser && before.is_active && (losesActive || losesSuper)) {
        if (await otherActiveSuperusers(tx, id) === 0) throw new HttpError(403, LAST_SUPERUSER);
      }
      update.revokeTokens = password !== undefined || losesActive || losesSuper;
      const after = await updateUser(tx, id, update);
      if (password !== undefined) await deleteResetTokens(tx, id);
      return after;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new EmailTakenError();
    throw error;
  }
}

/** Deletes user `id` (and their items); refuses the last active superuser. False if absent. */
export async function removeUser(sql: Sql, id: string): Promise<boolean> {
  return await sql.begin(async (tx) => {
    const user = await getUserById(tx, id);
    if (user === undefined) return false;
    if (user.is_superuser && user.is_active && await otherActiveSuperusers(tx, id) === 0) {
      throw new HttpError(403, LAST_SUPERUSER);
    }
    return await deleteUser(tx, id);
  });
}

/**
 * Uses a reset token: exactly once, before it expires, for an active user.
 * Sets the new password, revokes tokens and other reset links. Throws the
 * documented 400s; on failure the token stays unused.
 */
export async function resetPassword(sql: Sql, token: string, newPassword: string): Promise<void> {
  const hashed = await hashPassword(newPassword);
  await sql.begin(async (tx) => {
    const userId = await consumeResetToken(tx, token);
    const user = userId === undefined ? undefined : await getUserById(tx, userId);
    if (user === undefined) throw new HttpError(400, "Invalid token");
    if (!user.is_active) throw new HttpError(400, "Inactive user");
    await updateUser(tx, user.id, { hashed_password: hashed, revokeTokens: true });
    await deleteResetTokens(tx, user.id);
  });
}

/** Creates `FIRST_SUPERUSER` when configured and absent; never overwrites an existing user. */
export async function ensureFirstSuperuser(sql: Sql, config: Config, log: Logger): Promise<void> {
  if (config.firstSuperuser === undefined || config.firstSuperuserPassword === undefined) return;
  const created = await createUserIfAbsent(sql, {
    email: config.firstSuperuser,
    hashed_password: await hashPassword(config.firstSuperuserPassword),
    is_superuser: true,
  });
  if (created) log.info("first superuser created", { email: config.firstSuperuser });
}
