/**
 * Creating a user as an administrator does (the user API and the console):
 * registered, then told by email when email is configured.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Sql } from "../db/client.ts";
import type { User } from "../db/users.ts";
import type { Mailer } from "../emails/mailer.ts";
import { newAccountEmail } from "../emails/templates.ts";
import { sendEmail } from "../jobs/send_email.ts";
import { registerUser } from "../lib/accounts.ts";

/**
 * Registers a user (an `EmailTakenError` when the email is taken) and, when
 * email is on, queues the new-account email.
 */
export async function createAccount(
  deps: { sql: Sql; config: Config; mailer: Mailer },
  fields: Parameters<typeof registerUser>[1],
): Promise<User> {
  const user = await registerUser(deps.sql, fields);
  if (deps.mailer.enabled) {
    const email = newAccountEmail({
      projectName: deps.config.projectName,
      username: user.email,
      link: deps.config.frontendHost,
    });
    await sendEmail.delay({ to: user.email, ...email });
  }
  return user;
}
