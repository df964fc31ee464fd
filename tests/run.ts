/**
 * `deno task test`: starts one Postgres for the run (embedded, or the server
 * in `DATABASE_URL`), builds a migrated template database, runs every test
 * file in parallel (each clones the template), then cleans up.
 *
 * Usage: deno task test [--coverage] [test files or folders...]
 *        deno task test:browser  (the console in Chromium: `--browser`)
 *        deno task test:template (the FastAPI template's own suite: `--template`)
 *
 * @module
 */
import { createSql, databaseUrl } from "../db/client.ts";
import { connectError } from "../db/connection_errors.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../db/embedded/mod.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { processEnv } from "../lib/dotenv.ts";
import { createLogger } from "../lib/logging.ts";
import { dropDatabase } from "./_db.ts";
import { TEST_PERMISSIONS } from "./process.ts";

// Its own data dir and port, so tests never touch the dev database and can run beside `deno task dev`.
// The port lies below every system's ephemeral range (Linux 32768-60999, others 49152-65535): a
// test's outgoing connection may take any port in that range as its own, and did take 54330.
const TEST_PG_DIR = ".data/test-postgres";
const TEST_PG_PORT = 15430;
// Not *_test.ts files: they need Chromium (and the second a checkout of the FastAPI template),
// so each runs on its own (deno task test:browser, test:template).
const BROWSER_CHECKS = [
  "tests/console/browser_check.ts",
  "tests/flags/browser_check.ts",
  "tests/live/browser_check.ts",
];
const TEMPLATE_CHECK = "tests/template/template_check.ts";

const USAGE = `Usage: deno task test [--coverage] [test files or folders...]
       deno task test:browser     the console in Chromium
       deno task test:template    the FastAPI template's frontend and Playwright suite, against
                                  Tusk (TEMPLATE_DIR: a checkout of full-stack-fastapi-template)
       deno task test:coverage    every test, then an HTML report in coverage/html

Without DATABASE_URL an embedded Postgres starts under TEST_PG_DIR (.data/test-postgres) on
TEST_PG_PORT (15430); with it, that server is used (its user must be able to create databases).
Every test file gets its own database, cloned from a migrated template. Any other argument that
starts with - is handed to deno test (e.g. --filter "login").`;

async function main(): Promise<number> {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const coverage = Deno.args.includes("--coverage");
  const fastapiTemplate = Deno.args.includes("--template");
  const browser = fastapiTemplate || Deno.args.includes("--browser");
  const targets = fastapiTemplate
    ? [TEMPLATE_CHECK]
    : browser
    ? BROWSER_CHECKS
    : Deno.args.filter((a) => a !== "--coverage" && a !== "--browser");
  // `.env` too (the real environment wins), like every other task; only the runner's own
  // settings are read from it: the tests themselves never see the developer's variables.
  const env = await processEnv();
  const external = env.DATABASE_URL;
  let embedded: EmbeddedPostgres | undefined;
  let adminUrl: string;
  if (external) {
    adminUrl = external;
    console.log(`tests: using the PostgreSQL server in DATABASE_URL (${redact(external)})`);
  } else {
    embedded = await startEmbeddedPostgres({
      dir: env.TEST_PG_DIR ?? TEST_PG_DIR,
      port: Number(env.TEST_PG_PORT ?? TEST_PG_PORT),
      log: (m) => console.log(`tests: ${m}`),
    });
    adminUrl = embedded.adminUrl;
  }
  const template = `tusk_tpl_${crypto.randomUUID().slice(0, 8)}`;
  let result = { code: 1, summary: "" };
  // Dropped at the end, unless the server could not even be reached.
  let reached = true;
  try {
    try {
      await createTemplate(adminUrl, template);
    } catch (error) {
      const reason = connectError(error, adminUrl);
      if (reason === undefined) throw error;
      reached = false;
      console.error(`tests: ${reason.message}`);
      return 1;
    }
    result = await runDenoTest(adminUrl, template, targets, { coverage, browser });
    if (coverage) await coverageReport();
  } finally {
    if (reached) await dropDatabase(adminUrl, template);
    await embedded?.stop();
  }
  if (result.summary) console.log(result.summary);
  return result.code;
}

async function createTemplate(adminUrl: string, name: string) {
  const admin = createSql(adminUrl, { role: "test", poolSize: 1 });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  const sql = createSql(url, { role: "test", poolSize: 1 });
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(url, JOBS, createLogger({ level: "warn" }));
  } finally {
    // No session may stay connected, or CREATE DATABASE ... TEMPLATE refuses to copy it.
    await sql.end();
  }
}

async function runDenoTest(
  adminUrl: string,
  template: string,
  targets: string[],
  options: { coverage: boolean; browser: boolean },
) {
  const { coverage, browser } = options;
  const env = Deno.env.toObject();
  delete env.DATABASE_URL; // Tests get their own database URLs from the helpers.
  const args = [
    "test",
    // playwright-core probes /proc paths that Deno grants only with --allow-all.
    ...(browser ? ["--allow-all"] : TEST_PERMISSIONS),
    "--parallel",
    ...(coverage ? ["--coverage=coverage/raw", "--clean"] : []),
    // No targets: every *_test.ts in the project (deno.json excludes node_modules and .data).
    ...targets,
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { ...env, TUSK_TEST_ADMIN_URL: adminUrl, TUSK_TEST_TEMPLATE: template },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
  }
  const { code } = await child.status;
  // Deno's summary reads "ok | 12 passed | 0 failed"; print the plain form CI tools look for.
  // deno-lint-ignore no-control-regex
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
  const summary = /(\d+) passed(?: \([^)]*\))? \| (\d+) failed/.exec(plain);
  return { code, summary: summary ? `tests: ${summary[1]} passed, ${summary[2]} failed` : "" };
}

async function coverageReport() {
  // Its own "generated at coverage/raw/html" line would be wrong once we move the report.
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["coverage", "coverage/raw", "--html", "--exclude=tests/"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    console.error(new TextDecoder().decode(stderr));
    return;
  }
  // deno coverage writes beside the raw data; docs/tasks.md promises coverage/html.
  await Deno.remove("coverage/html", { recursive: true }).catch(() => {});
  await Deno.rename("coverage/raw/html", "coverage/html");
  console.log("coverage report: coverage/html/index.html");
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

if (import.meta.main) {
  Deno.exit(await main());
}
