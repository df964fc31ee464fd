/**
 * Password checks that an attacker could repeat: login (shared by
 * `POST /login/access-token` and the console's login form), and the current
 * password that sensitive changes ask for. Both are throttled, counted
 * before any password work.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { Sql } from "../../db/client.ts";
import { getUserByEmail, updateUser, type User } from "../../db/users.ts";
import { HttpError } from "../../lib/http_error.ts";
import { hashPassword, verifyDummy, verifyPassword } from "../../lib/password.ts";
import { consume, refund, reset, throttlePolicies } from "./throttle.ts";

const LOGIN_FAILURES = "failed login attempts";

/**
 * The active user with this email and password. Throws a 429 while the
 * client or the account is throttled, and the template's 400s otherwise
 * (`Incorrect email or password`, `Inactive user`). Each attempt is counted
 * against the client, then the account, before the password is checked, so
 * a concurrent burst gets at most the limit through to argon2; a right
 * password takes its count back, and a success clears the account's count
 * and upgrades an old hash.
 *
 * @example
 * ```ts
 * const user = await authenticate(sql, config, { email, password, client: "203.0.113.9" });
 * ```
 */
export async function authenticate(
  sql: Sql,
  config: Pick<Config, "throttle">,
  attempt: { email: string; password: string; client: string },
): Promise<User> {
  const { email, password, client } = attempt;
  const limits = throttlePolicies(config.throttle);
  await consume(sql, limits.loginPerClient, client, LOGIN_FAILURES);
  try {
    await consume(sql, limits.loginPerAccount, email, LOGIN_FAILURES);
  } catch (error) {
    // Refused for the account's sake: it was no attempt of this client's.
    await refund(sql, limits.loginPerClient, client);
    throw error;
  }
  const user = await getUserByEmail(sql, email);
  const verdict = user ? await verifyPassword(password, user.hashed_password) : undefined;
  // Unknown email: spend a real verification's time so timing says nothing.
  if (user === undefined) await verifyDummy(password);
  if (user === undefined || !verdict?.ok) throw new HttpError(400, "Incorrect email or password");
  // The right password was no failure.
  await refund(sql, limits.loginPerClient, client);
  if (!user.is_active) {
    await refund(sql, limits.loginPerAccount, email);
    throw new HttpError(400, "Inactive user");
  }
  await reset(sql, limits.loginPerAccount, email);
  if (verdict.needsRehash) {
    await updateUser(sql, user.id, { hashed_password: await hashPassword(password) });
  }
  return user;
}

/**
 * Whether `password` is `user`'s current one, for changes that ask for it
 * (a new password, a new email). A wrong one counts as a failed login of the
 * account, so a stolen token cannot be used to guess the password behind it;
 * over the limit it is a 429 before any password work.
 */
export async function checkCurrentPassword(
  sql: Sql,
  config: Pick<Config, "throttle">,
  user: User,
  password: string,
): Promise<boolean> {
  const limit = throttlePolicies(config.throttle).loginPerAccount;
  await consume(sql, limit, user.email, LOGIN_FAILURES);
  const { ok } = await verifyPassword(password, user.hashed_password);
  if (ok) await refund(sql, limit, user.email);
  return ok;
}

/**
 * Refuses (403) a sensitive change, such as a new email, unless the request
 * proves a recent login: the current password (a wrong one is the 400
 * `Incorrect password`), or a token whose login is at most
 * `SENSITIVE_ACTION_MAX_AGE_MINUTES` old. A stolen long-lived token then
 * cannot move the account's recovery address elsewhere.
 */
export async function assertRecentLogin(
  sql: Sql,
  config: Pick<Config, "throttle" | "sensitiveActionMaxAgeMinutes">,
  proof: { user: User; authenticatedAt: Date | undefined; currentPassword: string | undefined },
  what: string,
): Promise<void> {
  if (proof.currentPassword !== undefined) {
    if (!(await checkCurrentPassword(sql, config, proof.user, proof.currentPassword))) {
      throw new HttpError(400, "Incorrect password");
    }
    return;
  }
  const minutes = config.sensitiveActionMaxAgeMinutes;
  const age = proof.authenticatedAt === undefined
    ? Infinity
    : Date.now() - proof.authenticatedAt.getTime();
  if (age <= minutes * 60_000) return;
  throw new HttpError(
    403,
    `${what} needs a recent login: send current_password with the request, or log in again ` +
      `and retry within ${minutes} minutes`,
  );
}
