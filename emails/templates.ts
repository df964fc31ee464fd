/**
 * Email templates: each renders a subject, an HTML body and a plain-text
 * body. Rendering is separate from sending; every value is HTML-escaped.
 *
 * @module
 */

/** A rendered email, ready for any transport. */
export interface RenderedEmail {
  /** Which template rendered it (for traces and logs; never sent). */
  template?: string;
  subject: string;
  html: string;
  text: string;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function layout(projectName: string, title: string, bodyHtml: string): string {
  const project = escapeHtml(projectName);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: sans-serif; color: #1a1a1a; max-width: 560px; margin: 0 auto; padding: 24px">
  <h1 style="font-size: 20px">${project}</h1>
${bodyHtml}
  <p style="color: #666; font-size: 12px">Sent by ${project}.</p>
</body>
</html>
`;
}

function button(href: string, label: string): string {
  return `  <p><a href="${escapeHtml(href)}" style="display: inline-block; padding: 10px 18px; ` +
    `background: #009688; color: #fff; text-decoration: none; border-radius: 4px">${
      escapeHtml(label)
    }</a></p>\n` +
    `  <p>Or paste this link into your browser: <a href="${escapeHtml(href)}">${
      escapeHtml(href)
    }</a></p>`;
}

/**
 * The password recovery email, linking to `{FRONTEND_HOST}/reset-password?token=...`.
 *
 * @example
 * ```ts
 * resetPasswordEmail({ projectName: "Tusk", email: "a@b.c", link, validHours: 1 });
 * ```
 */
export function resetPasswordEmail(values: {
  projectName: string;
  email: string;
  link: string;
  validHours: number;
}): RenderedEmail {
  const hours = `${values.validHours} hour${values.validHours === 1 ? "" : "s"}`;
  const subject = `${values.projectName} - Password recovery for user ${values.email}`;
  const html = layout(
    values.projectName,
    subject,
    `  <p>Hello ${escapeHtml(values.email)},</p>
  <p>We received a request to reset the password of your account. The link works once and expires in ${hours}.</p>
${button(values.link, "Reset password")}
  <p>If you did not ask for this, ignore this email: your password stays as it is.</p>`,
  );
  const text = `Hello ${values.email},\n\n` +
    `We received a request to reset the password of your account. The link works once and ` +
    `expires in ${hours}:\n\n${values.link}\n\n` +
    `If you did not ask for this, ignore this email: your password stays as it is.\n`;
  return { template: "reset-password", subject, html, text };
}

/** The email sent when a superuser creates an account; it never contains the password. */
export function newAccountEmail(
  values: { projectName: string; username: string; link: string },
): RenderedEmail {
  const subject = `${values.projectName} - New account for user ${values.username}`;
  const html = layout(
    values.projectName,
    subject,
    `  <p>Welcome! An account was created for you with the username ${
      escapeHtml(values.username)
    }.</p>
  <p>Ask the person who created it for your password, or set one with "Forgot password" on the login page.</p>
${button(values.link, "Go to the dashboard")}`,
  );
  const text = `Welcome! An account was created for you with the username ${values.username}.\n\n` +
    `Ask the person who created it for your password, or set one with "Forgot password" on the ` +
    `login page:\n\n${values.link}\n`;
  return { template: "new-account", subject, html, text };
}

/** The email sent by `POST /utils/test-email/`. */
export function testEmail(values: { projectName: string; email: string }): RenderedEmail {
  const subject = `${values.projectName} - Test email`;
  const html = layout(
    values.projectName,
    subject,
    `  <p>Test email for: ${
      escapeHtml(values.email)
    }</p>\n  <p>If you can read this, email works.</p>`,
  );
  const text = `Test email for: ${values.email}\n\nIf you can read this, email works.\n`;
  return { template: "test-email", subject, html, text };
}

/**
 * The notice sent to the old address when an account's email changes, so a
 * takeover through a stolen token does not go unseen.
 */
export function emailChangedEmail(
  values: { projectName: string; oldEmail: string; newEmail: string; link: string },
): RenderedEmail {
  const subject = `${values.projectName} - The email of your account was changed`;
  const html = layout(
    values.projectName,
    subject,
    `  <p>Hello ${escapeHtml(values.oldEmail)},</p>
  <p>The email address of your account was just changed to ${
      escapeHtml(values.newEmail)
    }. Messages about the account, password recovery links among them, now go there.</p>
  <p>If you did not make this change, contact the people who run ${
      escapeHtml(values.projectName)
    } at once.</p>
${button(values.link, "Go to the dashboard")}`,
  );
  const text = `Hello ${values.oldEmail},\n\n` +
    `The email address of your account was just changed to ${values.newEmail}. Messages about ` +
    `the account, password recovery links among them, now go there.\n\n` +
    `If you did not make this change, contact the people who run ${values.projectName} at ` +
    `once:\n\n${values.link}\n`;
  return { template: "email-changed", subject, html, text };
}
