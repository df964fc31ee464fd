/**
 * The emails Tusk sends, by name: each is `emails/templates/<name>.html`
 * (and optionally `<name>.txt`), and gets exactly the values listed here.
 * The sample values type `renderEmail(name, values)` and fill the previews
 * (`deno task cli emails preview NAME`, the console's Emails page).
 *
 * To add an email: write `emails/templates/<name>.html`, add an entry here
 * with a sample of every value it uses, and send it from a job with
 * `sendEmail.delay({ to, ...renderEmail("<name>", values) })`.
 *
 * @module
 */

/** One email of the catalog. */
export interface EmailSpec {
  /** What the email is for, as the previews say. */
  description: string;
  /** Every value the template may use, with a sample (strings and numbers only). */
  sample: Record<string, string | number>;
}

/**
 * Placeholders some templates use that Tusk never fills: they render empty,
 * with a warning at start. The FastAPI template's `new_account.html` prints
 * `{{ password }}`; Tusk never emails a password.
 */
export const NEVER_PROVIDED: ReadonlySet<string> = new Set(["password"]);

const PROJECT = "Tusk";
const DASHBOARD = "http://localhost:5173";

/** The emails, by template name. */
export const EMAILS = {
  reset_password: {
    description: "Password recovery: a link that sets a new password once",
    sample: {
      project_name: PROJECT,
      username: "ada@example.com",
      email: "ada@example.com",
      link: `${DASHBOARD}/reset-password?token=preview-only-this-is-not-a-token`,
      valid_hours: 48,
      /** `valid_hours` in words: "1 hour", "48 hours". */
      valid_for: "48 hours",
    },
  },
  new_account: {
    description: "Sent when a superuser creates an account (never with its password)",
    sample: {
      project_name: PROJECT,
      username: "ada@example.com",
      email: "ada@example.com",
      link: DASHBOARD,
    },
  },
  test_email: {
    description: "Sent by POST /api/v1/utils/test-email/ to check that email works",
    sample: { project_name: PROJECT, email: "ada@example.com" },
  },
  email_changed: {
    description: "Tells the old address that an account's email was changed",
    sample: {
      project_name: PROJECT,
      old_email: "ada@example.com",
      new_email: "ada.lovelace@example.com",
      link: DASHBOARD,
    },
  },
} as const satisfies Record<string, EmailSpec>;

/** A template's name. */
export type EmailName = keyof typeof EMAILS;

/** The values `renderEmail` takes for template `N`: every one of its sample's names. */
export type EmailValues<N extends EmailName> = {
  [K in keyof (typeof EMAILS)[N]["sample"]]: string | number;
};
