/**
 * `deno task dev` as a newcomer runs it, in a copy of the project (its own
 * `.env`, `migrations/` and `emails/templates/`): a start-up mistake is
 * printed and waits for the fix, and a migration added while it runs is applied.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TEST_SECRET } from "./_app.ts";
import { projectCopy } from "./_copy.ts";
import { migratedDatabase, type TestDatabase } from "./_db.ts";
import { freePort, startTusk, waitFor, waitForHttp } from "./process.ts";

async function hasTable(db: TestDatabase, name: string): Promise<boolean> {
  const [row] = await db.sql`select to_regclass(${name}) is not null as found`;
  return row!.found;
}

Deno.test("deno task dev waits out a bad .env, a broken migration and a broken email template, and applies a migration added while it runs", async () => {
  await using db = await migratedDatabase();
  const dir = await projectCopy(db);
  await Deno.writeTextFile(join(dir, ".env"), "LOG_LEVEL=loud\n");
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  await using dev = startTusk([], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PORT: String(port),
    TUSK_ENV_FILE: ".env",
    EMAIL_TRANSPORT: "off",
  }, { task: "dev", cwd: dir });

  // A bad .env: the message, then a wait that the fix ends.
  await dev.waitForOutput(
    /waiting for a change to \.env, migrations\/ or emails\/templates\/ to start again/,
  );
  assert.match(dev.output(), /^tusk dev: Invalid configuration\./m);
  assert.match(dev.output(), /LOG_LEVEL: expected debug, info, warn or error, got "loud"/);
  await Deno.writeTextFile(join(dir, ".env"), "LOG_LEVEL=info\n");
  (await waitForHttp(`${base}/readyz`, 200, 60_000)).body?.cancel();
  assert.match(dev.output(), /"console":"http:\/\/127\.0\.0\.1:\d+\/admin"/);

  // A migration added while dev runs is applied.
  await Deno.writeTextFile(
    join(dir, "migrations", "0100_newcomer_things.sql"),
    "create table newcomer_things (id int primary key);\n",
  );
  await waitFor(() => hasTable(db, "newcomer_things"), 60_000);
  (await waitForHttp(`${base}/readyz`, 200, 60_000)).body?.cancel();

  // A broken one stops it with the migrator's message; fixing the file starts it again.
  const broken = join(dir, "migrations", "0101_broken.sql");
  const before = dev.output().length;
  await Deno.writeTextFile(broken, "create tabel oops (id int);\n");
  await waitFor(() => /0101_broken\.sql/.test(dev.output().slice(before)), 60_000);
  await waitFor(() => /waiting for a change to/.test(dev.output().slice(before)), 60_000);
  await Deno.writeTextFile(broken, "create table oops (id int);\n");
  await waitFor(() => hasTable(db, "oops"), 60_000);
  (await waitForHttp(`${base}/readyz`, 200, 60_000)).body?.cancel();

  // So does an email template with a placeholder no email gets.
  const template = join(dir, "emails", "templates", "test_email.html");
  const good = await Deno.readTextFile(template);
  const mark = dev.output().length;
  await Deno.writeTextFile(template, good.replace("{{ email }}", "{{ recipient }}"));
  await waitFor(() => /waiting for a change to/.test(dev.output().slice(mark)), 60_000);
  assert.match(
    dev.output().slice(mark),
    /emails\/templates\/test_email\.html:\d+: unknown placeholder \{\{ recipient \}\}; this email gets project_name, email/,
  );
  await Deno.writeTextFile(template, good);
  await waitFor(async () => {
    const response = await fetch(`${base}/readyz`).catch(() => undefined);
    await response?.body?.cancel();
    return response?.status === 200 && /listening/.test(dev.output().slice(mark));
  }, 60_000);
  assert.doesNotMatch(dev.output(), /^\s+at /m, "no stack anywhere");

  dev.killGroup("SIGINT");
  await dev.status;
});
