/**
 * Account changes that also send email: creating a user as an administrator
 * (the user API and the console), and a user changing their own email.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { inAmbientTransaction } from "../db/ambient.ts";
import type { Sql } from "../db/client.ts";
import type { User } from "../db/users.ts";
import type { Mailer } from "../emails/mailer.ts";
import { emailChangedEmail, newAccountEmail } from "../emails/templates.ts";
import { sendEmail } from "../jobs/send_email.ts";
import { changeUser, registerUser } from "../lib/accounts.ts";

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

/**
 * Applies a user's changes to their own account (`PATCH /users/me`). When
 * the email changes and email is on, the old address is told, by a job
 * queued in the change's own transaction: no change goes unannounced.
 */
export async function updateOwnAccount(
  deps: { sql: Sql; config: Config; mailer: Mailer },
  user: User,
  changes: { full_name?: string | null; email?: string },
): Promise<User | undefined> {
  return await deps.sql.begin((tx) =>
    inAmbientTransaction(tx, async () => {
      const updated = await changeUser(deps.sql, user.id, changes);
      // Emails compare without case: a new casing is the same mailbox.
      const moved = updated !== undefined &&
        updated.email.toLowerCase() !== user.email.toLowerCase();
      if (!moved || !deps.mailer.enabled) return updated;
      const email = emailChangedEmail({
        projectName: deps.config.projectName,
        oldEmail: user.email,
        newEmail: updated.email,
        link: deps.config.frontendHost,
      });
      await sendEmail.delay({ to: user.email, ...email }, { tx });
      return updated;
    })
  );
}
