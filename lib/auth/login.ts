/**
 * Password login, shared by `POST /login/access-token` and the console's
 * login form, so both are throttled and answer alike.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { Sql } from "../../db/client.ts";
import { getUserByEmail, updateUser, type User } from "../../db/users.ts";
import { HttpError } from "../errors.ts";
import { hashPassword, verifyDummy, verifyPassword } from "./password.ts";
import { assertNotThrottled, record, reset, throttlePolicies } from "./throttle.ts";

const LOGIN_FAILURES = "failed login attempts";

/**
 * The active user with this email and password. Throws a 429 while the
 * client or the account is throttled, and the template's 400s otherwise
 * (`Incorrect email or password`, `Inactive user`). Failures count against
 * both; a success clears the account's count and upgrades an old hash.
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
  await assertNotThrottled(sql, limits.loginPerClient, client, LOGIN_FAILURES);
  await assertNotThrottled(sql, limits.loginPerAccount, email, LOGIN_FAILURES);
  const user = await getUserByEmail(sql, email);
  const verdict = user ? await verifyPassword(password, user.hashed_password) : undefined;
  // Unknown email: spend a real verification's time so timing says nothing.
  if (user === undefined) await verifyDummy(password);
  if (user === undefined || !verdict?.ok) {
    await record(sql, limits.loginPerAccount, email);
    await record(sql, limits.loginPerClient, client);
    throw new HttpError(400, "Incorrect email or password");
  }
  if (!user.is_active) throw new HttpError(400, "Inactive user");
  await reset(sql, limits.loginPerAccount, email);
  if (verdict.needsRehash) {
    await updateUser(sql, user.id, { hashed_password: await hashPassword(password) });
  }
  return user;
}
