/**
 * Account rules, one home for each: registering users (and telling them by
 * email), changes that revoke tokens, the last-superuser guard (also for
 * rows a revert writes), a user's own changes with the old address told,
 * removal, and the first superuser.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { inAmbientTransaction } from "../db/ambient.ts";
import { isUniqueViolation, type Sql, type Tx } from "../db/client.ts";
import { deleteResetTokens } from "../db/reset_tokens.ts";
import {
  createUser,
  createUserIfAbsent,
  deleteUser,
  getUserById,
  hasActiveSuperuser,
  type NewUser,
  otherActiveSuperusers,
  updateUser,
  type User,
  type UserChanges,
} from "../db/users.ts";
import { renderEmail } from "../emails/render.ts";
import { sendEmail } from "../jobs/send_email.ts";
import { HttpError } from "../lib/http_error.ts";
import type { Logger } from "../lib/logging.ts";
import { hashPassword } from "../lib/password.ts";

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
      const loses = losses(before, changes);
      if (await leavesNoSuperuser(tx, before, changes)) throw new HttpError(403, LAST_SUPERUSER);
      update.revokeTokens = password !== undefined || loses;
      const after = await updateUser(tx, id, update);
      if (password !== undefined) await deleteResetTokens(tx, id);
      return after;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new EmailTakenError();
    throw error;
  }
}

type Flags = Pick<User, "is_active" | "is_superuser">;

/** Whether `next` takes away `user`'s activity or superuser rights (either revokes their tokens). */
function losses(user: Flags, next: Partial<Flags>): boolean {
  return (user.is_active && next.is_active === false) ||
    (user.is_superuser && next.is_superuser === false);
}

/**
 * Whether changing `user` to `next` (undefined: deleting them) would leave
 * no active superuser. Serialised with every other such change.
 */
async function leavesNoSuperuser(
  tx: Tx,
  user: Flags & { id: string },
  next: Partial<Flags> | undefined,
): Promise<boolean> {
  if (!user.is_superuser || !user.is_active) return false;
  if (next !== undefined && !losses(user, next)) return false;
  return await otherActiveSuperusers(tx, user.id) === 0;
}

/**
 * The account rules for a change written straight to a `users` row, as a
 * revert from audit history does: refuses (409, saying why) one that would
 * leave no active superuser, and revokes the user's tokens when they lose
 * `is_active` or `is_superuser`. `next` is the row's new values; undefined
 * deletes it. Call in the change's transaction, before making it.
 */
export async function checkUserRowChange(
  tx: Tx,
  user: Flags & { id: string },
  next: Partial<Flags> | undefined,
): Promise<void> {
  if (await leavesNoSuperuser(tx, user, next)) {
    throw new HttpError(
      409,
      "The change would leave no active superuser: the last one cannot be deleted, deactivated " +
        "or demoted",
    );
  }
  if (next !== undefined && losses(user, next)) {
    await updateUser(tx, user.id, { revokeTokens: true });
  }
}

/** Deletes user `id` (and their items); refuses the last active superuser. False if absent. */
export async function removeUser(sql: Sql, id: string): Promise<boolean> {
  return await sql.begin(async (tx) => {
    const user = await getUserById(tx, id);
    if (user === undefined) return false;
    if (await leavesNoSuperuser(tx, user, undefined)) throw new HttpError(403, LAST_SUPERUSER);
    return await deleteUser(tx, id);
  });
}

/**
 * Creates `FIRST_SUPERUSER` when configured and absent; never overwrites an
 * existing user. With no active superuser at all, says how to make one: the
 * console and every superuser route need one.
 */
export async function ensureFirstSuperuser(sql: Sql, config: Config, log: Logger): Promise<void> {
  if (config.firstSuperuser !== undefined && config.firstSuperuserPassword !== undefined) {
    const created = await createUserIfAbsent(sql, {
      email: config.firstSuperuser,
      hashed_password: await hashPassword(config.firstSuperuserPassword),
      is_superuser: true,
    });
    if (created) log.info("first superuser created", { email: config.firstSuperuser });
  }
  if (!(await hasActiveSuperuser(sql))) {
    log.warn(
      `no active superuser exists, so nobody can log in to ${config.consolePath} or use superuser ` +
        "routes: set " +
        "FIRST_SUPERUSER and FIRST_SUPERUSER_PASSWORD (created at the next start), or run " +
        "deno task cli users create EMAIL --superuser",
    );
  }
}

/**
 * Registers a user (an `EmailTakenError` when the email is taken) and
 * queues the new-account email. With email off the worker skips it, and the
 * email log says so.
 */
export async function createAccount(
  deps: { sql: Sql; config: Config },
  fields: Parameters<typeof registerUser>[1],
): Promise<User> {
  const user = await registerUser(deps.sql, fields);
  const email = renderEmail("new_account", {
    project_name: deps.config.projectName,
    username: user.email,
    email: user.email,
    link: deps.config.frontendHost,
  });
  await sendEmail.delay({ to: user.email, userId: user.id, ...email });
  return user;
}

/**
 * Applies a user's changes to their own account (`PATCH /users/me`). When
 * the email changes, the old address is told, by a job queued in the
 * change's own transaction: no change goes unannounced (with email off, the
 * email log shows it skipped).
 */
export async function updateOwnAccount(
  deps: { sql: Sql; config: Config },
  user: User,
  changes: { full_name?: string | null; email?: string },
): Promise<User | undefined> {
  return await deps.sql.begin((tx) =>
    inAmbientTransaction(tx, async () => {
      const updated = await changeUser(deps.sql, user.id, changes);
      // Emails compare without case: a new casing is the same mailbox.
      const moved = updated !== undefined &&
        updated.email.toLowerCase() !== user.email.toLowerCase();
      if (!moved) return updated;
      const email = renderEmail("email_changed", {
        project_name: deps.config.projectName,
        old_email: user.email,
        new_email: updated.email,
        link: deps.config.frontendHost,
      });
      // The old address no longer names the account: say whose it was.
      await sendEmail.delay({ to: user.email, userId: user.id, ...email }, { tx });
      return updated;
    })
  );
}
