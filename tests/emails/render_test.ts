/**
 * Email templates as files: the FastAPI template's kind of file (React Email
 * output; fixtures in `tests/fixtures/react_email/` written in its style)
 * drops in and renders exactly as the snapshots in `expected/` say, values
 * are escaped, mistakes are named at load, and text comes from the HTML.
 * `UPDATE_SNAPSHOTS=1 deno task test tests/emails/render_test.ts` rewrites
 * the snapshots (read the diff before committing it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type EmailName, EMAILS } from "../../emails/catalog.ts";
import {
  EmailTemplateError,
  emailTemplates,
  htmlToText,
  loadEmailTemplates,
  renderEmail,
  TEMPLATES_DIR,
} from "../../emails/render.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/react_email/", import.meta.url));
const EXPECTED = fileURLToPath(new URL("./expected/", import.meta.url));
const HOSTILE = `Acme <Corp> & "Co"`;

/** A folder holding Tusk's templates, with `files` written over them. */
async function templatesWith(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tusk-templates-" });
  for await (const entry of Deno.readDir(TEMPLATES_DIR)) {
    await Deno.copyFile(join(TEMPLATES_DIR, entry.name), join(dir, entry.name));
  }
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  return dir;
}

function sample(name: EmailName): Record<string, string | number> {
  return { ...EMAILS[name].sample, project_name: HOSTILE };
}

/** The error `load` throws, which must be an EmailTemplateError. */
function loadError(dir: string): string {
  try {
    loadEmailTemplates(dir);
  } catch (error) {
    assert.ok(error instanceof EmailTemplateError, String(error));
    return error.message;
  }
  assert.fail("the templates loaded");
}

Deno.test("the template's three files drop in and render exactly", async () => {
  const dropIns: Record<string, string> = {};
  for (const name of ["reset_password", "new_account", "test_email"] as const) {
    dropIns[`${name}.html`] = await Deno.readTextFile(join(FIXTURES, `${name}.html`));
  }
  const dir = await templatesWith(dropIns);
  try {
    const templates = loadEmailTemplates(dir);
    assert.deepEqual(templates.warnings, [
      `${join(dir, "new_account.html")} uses {{ password }}, which Tusk never fills (it never ` +
      "emails passwords): it renders empty",
    ]);
    for (const name of ["reset_password", "new_account", "test_email"] as const) {
      const email = templates.render(name, sample(name) as never);
      const rendered = `Subject: ${email.subject}\n\n${email.text}\n${email.html}\n`;
      const file = join(EXPECTED, `${name}.txt`);
      if (Deno.env.get("UPDATE_SNAPSHOTS") === "1") await Deno.writeTextFile(file, rendered);
      assert.equal(rendered, await Deno.readTextFile(file), `${name} differs from ${file}`);
      assert.equal(email.template, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("values are HTML-escaped, raw only with | safe; subject and text are plain", async () => {
  const dir = await templatesWith({
    "test_email.html": "<html><head><title>{{ project_name }} &amp; friends</title></head>" +
      '<body><p title="{{ email }}">{{ email }}</p><div>{{ project_name | safe }}</div></body></html>',
    "test_email.txt": "To {{ email }} from {{ project_name }}\n",
  });
  try {
    const email = loadEmailTemplates(dir).render("test_email", {
      project_name: "<b>Bold</b> & Co",
      email: `o'brien"@example.com`,
    });
    assert.equal(email.subject, "<b>Bold</b> & Co & friends");
    assert.match(
      email.html,
      /<p title="o&#39;brien&#34;@example\.com">o&#39;brien&#34;@example\.com<\/p>/,
    );
    assert.match(email.html, /<div><b>Bold<\/b> & Co<\/div>/);
    assert.doesNotMatch(email.html, /o'brien/);
    assert.equal(email.text, `To o'brien"@example.com from <b>Bold</b> & Co\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a subject comment wins over the title and is not sent", async () => {
  const dir = await templatesWith({
    "test_email.html": "<!-- subject: Hello {{ email }} -->\n<html><head><title>Ignored</title>" +
      "</head><body><p>Hi</p></body></html>",
  });
  try {
    const email = loadEmailTemplates(dir).render("test_email", {
      project_name: "P",
      email: "a@example.com",
    });
    assert.equal(email.subject, "Hello a@example.com");
    assert.doesNotMatch(email.html, /subject:/);
    assert.ok(email.html.startsWith("<html>"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mistakes in templates are one error at load, naming each file, line and name", async () => {
  const dir = await templatesWith({
    "reset_password.html": "<html><head><title>{{ project_name }}</title></head>\n<body>\n" +
      "<p>{{ token }}</p>\n<p>{{ user.email }}</p>\n{% if link %}x{% endif %}\n</body></html>",
    "test_email.html": "<html><body><p>no title</p></body></html>",
    "welcome.html": "<html><head><title>Hi</title></head></html>",
  });
  try {
    await Deno.remove(join(dir, "email_changed.html"));
    const message = loadError(dir);
    const at = (file: string) => join(dir, file);
    for (
      const expected of [
        `${at("reset_password.html")}:3: unknown placeholder {{ token }}; this email gets ` +
        "project_name, username, email, link, valid_hours, valid_for (emails/catalog.ts)",
        `${at("reset_password.html")}:4: cannot read {{ user.email }}; write {{ name }}`,
        `${at("reset_password.html")}:5: "{%" tags are not supported`,
        `${at("test_email.html")}: no subject; give the file a <title>`,
        `${at("welcome.html")} is not an email emails/catalog.ts declares: add "welcome" there`,
        `${at("email_changed.html")} is missing: emails/catalog.ts declares the email ` +
        '"email_changed"',
      ]
    ) {
      assert.ok(message.includes(expected), `expected ${expected} in:\n${message}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plain text skips the preheader and padding, keeps headings, paragraphs and links", () => {
  const text = htmlToText(
    "<html><head><title>T</title><style>p { color: red }</style></head><body>" +
      '<div style="display:none" data-skip-in-text="true">Preview<div> \u200c\u200b\ufeff</div></div>' +
      "<h1>Reset</h1><p>Hello\u200b Ada,</p>" +
      '<p><a href="https://x.example/r?t=1&amp;u=2">Reset password</a></p>' +
      '<p><a href="https://x.example/">https://x.example/</a></p></body></html>',
  );
  assert.equal(
    text,
    "Reset\n\nHello Ada,\n\nReset password https://x.example/r?t=1&u=2\n\nhttps://x.example/\n",
  );
});

Deno.test("renderEmail checks each value the catalog declares", () => {
  assert.throws(
    () => renderEmail("test_email", { project_name: "P" } as never),
    /renderEmail\("test_email"\): the value "email" must be a string or a number, got nothing/,
  );
  assert.throws(
    () => renderEmail("test_email", { project_name: "P", email: { a: 1 } } as never),
    /the value "email" must be a string or a number, got \{"a":1\}/,
  );
});

Deno.test("Tusk's own templates load cleanly and put every value where it belongs", () => {
  const templates = emailTemplates();
  assert.deepEqual(templates.warnings, []);
  assert.deepEqual(templates.names(), Object.keys(EMAILS));
  const reset = renderEmail("reset_password", {
    ...EMAILS.reset_password.sample,
    link: "https://app.example/reset-password?token=abc&x=<1>",
  });
  assert.ok(reset.subject.length > 0);
  assert.ok(reset.text.includes("https://app.example/reset-password?token=abc&x=<1>"));
  assert.ok(
    reset.html.includes('href="https://app.example/reset-password?token=abc&#38;x=&#60;1&#62;"'),
  );
});
