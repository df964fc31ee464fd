/**
 * The FastAPI full-stack template's own frontend and Playwright suite, unchanged, against Tusk,
 * as a user moving over would run them: in a copy of this project, the template's `.env` copied to
 * `.env` and its three email templates over Tusk's (`cp backend/app/email-templates/*.html
 * emails/templates/`), `deno task dev` serving the API and the built frontend (`FRONTEND_DIR`) on
 * one origin, emails sent over SMTP to a Mailpit stand-in, and the suite run by the template's own
 * `@playwright/test` in Debian's Chromium.
 *
 * The template's code is not part of this repository, so this needs a checkout of
 * fastapi/full-stack-fastapi-template: `TEMPLATE_DIR=../full-stack-fastapi-template deno task
 * test:template`. Without one it is skipped, saying so. It needs npm (the template's frontend
 * installs from the npm registry) and Chromium (/usr/bin/chromium, or CHROMIUM_PATH).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { updateFlag } from "../../db/feature_flags.ts";
import { REGISTRATION_FLAG } from "../../routes/users_me.ts";
import { projectCopy } from "../_copy.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { smtpServer } from "../_smtp.ts";
import { freePort, startTusk, waitForHttp } from "../process.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../_chromium.ts";

const TEMPLATE_DIR = Deno.env.get("TEMPLATE_DIR");
// What the frontend and its suite bring from npm; never the browsers Playwright would download.
const NPM_ENV = { PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: "1", npm_config_audit: "false" };

if (TEMPLATE_DIR === undefined) {
  console.log(
    "test:template: skipped: set TEMPLATE_DIR to a checkout of fastapi/full-stack-fastapi-template " +
      "(its code is not part of this repository)",
  );
}

/** Runs a command to completion in `cwd`, failing with its output when it fails. */
async function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, `${cmd} ${args.join(" ")} in ${cwd}:\n${text.slice(-4000)}`);
  return text;
}

/** Copies the template's frontend (not its node_modules or build) into `to`. */
async function copyFrontend(from: string, to: string) {
  async function copyDir(src: string, dst: string) {
    await Deno.mkdir(dst, { recursive: true });
    for await (const entry of Deno.readDir(src)) {
      if (["node_modules", "dist", "test-results", "playwright-report"].includes(entry.name)) {
        continue;
      }
      const [s, d] = [join(src, entry.name), join(dst, entry.name)];
      if (entry.isDirectory) await copyDir(s, d);
      else if (entry.isFile) await Deno.copyFile(s, d);
    }
  }
  await copyDir(join(from, "frontend"), join(to, "frontend"));
  // The suite reads the superuser's credentials from the template's .env, beside frontend/.
  await Deno.copyFile(join(from, ".env"), join(to, ".env"));
}

/** A copy of this project with the template's `.env` and email templates dropped in, unchanged. */
async function projectWithTemplateFiles(db: TestDatabase): Promise<string> {
  const dir = await projectCopy(db);
  await Deno.copyFile(join(TEMPLATE_DIR!, ".env"), join(dir, ".env"));
  const emails = join(TEMPLATE_DIR!, "backend", "app", "email-templates");
  for await (const entry of Deno.readDir(emails)) {
    if (!entry.name.endsWith(".html")) continue;
    await Deno.copyFile(join(emails, entry.name), join(dir, "emails", "templates", entry.name));
  }
  return dir;
}

/**
 * The part of Mailpit's HTTP API the suite reads (`GET /api/v1/search?query=to:...` and
 * `GET /view/{id}.html`), over what a real SMTP server received. Mailpit itself cannot run
 * here: it ships as a container image or a binary from GitHub, neither reachable.
 */
async function mailpitStandIn() {
  const smtp = await smtpServer();
  const port = freePort();
  const parsed = async () =>
    await Promise.all(
      smtp.received.map(async (m, id) => ({ id, mail: await simpleParser(m.raw) })),
    );
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const messages = (await parsed()).reverse(); // newest first, as Mailpit lists them
    if (url.pathname === "/api/v1/search") {
      const to = /^to:(.+)$/.exec(url.searchParams.get("query") ?? "")?.[1]?.toLowerCase();
      const found = messages.filter(({ mail }) =>
        [mail.to].flat().some((a) => a?.text.toLowerCase().includes(to ?? "\0"))
      );
      const limit = Number(url.searchParams.get("limit") ?? 50);
      return Response.json({ messages: found.slice(0, limit).map(({ id }) => ({ ID: `${id}` })) });
    }
    const view = /^\/view\/(\d+)\.html$/.exec(url.pathname);
    const message = view && messages.find(({ id }) => `${id}` === view[1]);
    if (message) {
      return new Response(message.mail.html || "", { headers: { "content-type": "text/html" } });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    smtpPort: smtp.port,
    url: `http://127.0.0.1:${port}`,
    received: () => smtp.received.length,
    async close() {
      await server.shutdown();
      await smtp.close();
    },
  };
}

Deno.test({
  name: "the FastAPI template's own Playwright suite passes against its frontend served by Tusk",
  ignore: TEMPLATE_DIR === undefined,
  // Playwright's runner and Chromium run as child processes whose pipes Deno cannot see.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await Deno.stat(CHROMIUM).catch(() => {
    throw new Error(
      `Chromium is not at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`,
    );
  });
  await using db = await migratedDatabase();
  const work = await Deno.makeTempDir({ prefix: "tusk-template-" });
  db.defer(() => Deno.remove(work, { recursive: true }));
  await copyFrontend(TEMPLATE_DIR!, work);
  const frontend = join(work, "frontend");
  const port = freePort();
  const origin = `http://127.0.0.1:${port}`;
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  const npmEnv = { ...NPM_ENV, PATH: path, HOME: Deno.env.get("HOME") ?? "/tmp" };
  await run("npm", ["install", "--no-fund"], frontend, npmEnv);
  // Its build goes to ../backend/app/frontend, where the template's backend serves it from.
  await run("npm", ["run", "build"], frontend, { ...npmEnv, VITE_API_URL: origin });

  // The template's backend opens sign-up; Tusk ships it behind a flag, which the operator turns on.
  await updateFlag(db.sql, REGISTRATION_FLAG, { is_active: true });
  const mail = await mailpitStandIn();
  db.defer(() => mail.close());
  const project = await projectWithTemplateFiles(db);
  const env = {
    // The template's .env, unchanged; the environment names this run's database, port and SMTP.
    TUSK_ENV_FILE: ".env",
    DATABASE_URL: db.url,
    HOST: "127.0.0.1",
    PORT: String(port),
    FRONTEND_DIR: join(work, "backend", "app", "frontend"),
    FRONTEND_HOST: origin,
    SMTP_HOST: "127.0.0.1",
    SMTP_PORT: String(mail.smtpPort),
  };
  await using dev = startTusk([], env, { task: "dev", cwd: project });
  (await waitForHttp(`${origin}/readyz`, 200, 90_000)).body?.cancel();

  // The suite's own config, with Debian's Chromium and a plain reporter; its tests as they are.
  await Deno.writeTextFile(
    join(frontend, "tusk.playwright.config.ts"),
    `import base from "./playwright.config.ts"
const launchOptions = { executablePath: ${JSON.stringify(CHROMIUM)}, args: ${
      JSON.stringify(CHROMIUM_ARGS)
    } }
export default {
  ...base,
  retries: 0,
  reporter: [["list"]],
  projects: base.projects.map((p) => ({ ...p, use: { ...p.use, launchOptions } })),
}
`,
  );
  const { code, stdout, stderr } = await new Deno.Command("npx", {
    args: ["playwright", "test", "-c", "tusk.playwright.config.ts"],
    cwd: frontend,
    env: {
      ...npmEnv,
      PLAYWRIGHT_BASE_URL: origin,
      VITE_API_URL: origin,
      MAILPIT_HOST: mail.url,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const report = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  console.log(report.split("\n").filter((l) => /passed|failed|flaky|skipped|✘/.test(l)).join("\n"));
  const passed = Number(/(\d+) passed/.exec(report)?.[1] ?? 0);
  assert.equal(code, 0, `the template's suite failed:\n${report.slice(-6000)}\n${dev.output()}`);
  assert.ok(passed > 0 && !/\d+ failed/.test(report), report.slice(-2000));
  assert.ok(mail.received() > 0, "no email reached the SMTP server");
});
