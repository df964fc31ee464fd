/**
 * The console in a real browser: Debian's Chromium driven by playwright-core
 * (which never downloads a browser of its own), against a real server on a
 * real port, over a real Postgres, with a worker running. Every page is
 * checked with axe-core and photographed.
 *
 * Run with `deno task test:browser` (Chromium at /usr/bin/chromium, or
 * CHROMIUM_PATH). Screenshots go to `.data/console-screenshots` (or
 * CONSOLE_SCREENSHOTS).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { type Browser, chromium, type Page } from "playwright-core";
import { REGISTRATION_FLAG } from "../../routes/users_me.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser, signupStatus } from "../_factories.ts";
import {
  BATCH_CALLBACKS_SQL,
  batchDone,
  chatty,
  EFFECTS_TABLE_SQL,
  failUntilAllowed,
  recordOrFail,
  STARTS_TABLE_SQL,
  TEST_JOBS,
} from "../fixtures/test_jobs.ts";
import { batch } from "../../jobs/batches.ts";
import { flow } from "../../jobs/flows.ts";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../_chromium.ts";

const SHOTS = Deno.env.get("CONSOLE_SCREENSHOTS") ?? ".data/console-screenshots";
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Serious and critical axe-core violations on the page as it is now. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(AXE);
  // A string, run in the page: this file is type-checked without the DOM's types.
  const found = await page.evaluate(
    `axe.run(document, { runOnly: { type: "tag", values: ${
      JSON.stringify(AXE_TAGS)
    } } }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`,
  ) as {
    id: string;
    impact: string;
    nodes: number;
  }[];
  return found.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}, ${v.nodes} elements)`);
}

Deno.test({
  name: "the console in Chromium: login, flags, jobs, users, audit revert, CSRF, accessibility",
  // Playwright keeps its pipes to the browser in handles Deno cannot see closing.
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`,
    );
  }
  await Deno.mkdir(SHOTS, { recursive: true });
  await using db = await migratedDatabase();
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  const parquet = await Deno.makeTempDir({ prefix: "tusk-console-parquet-" });
  db.defer(() => Deno.remove(parquet, { recursive: true }));
  const { app } = await testApp(db, {
    work: true,
    jobs: [...JOBS, ...TEST_JOBS],
    env: { PARQUET_DATA_PATH: parquet },
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  db.defer(() => server.shutdown());
  const base = `http://127.0.0.1:${server.addr.port}`;
  const admin = await makeUser(db.sql, { superuser: true, email: "ops@example.com" });
  const normal = await makeUser(db.sql, { email: "dana@example.com" });
  const bob = await makeUser(db.sql, { email: "bob@example.com" });

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  db.defer(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  const checked: Record<string, string[]> = {};

  /** axe-checks and photographs the page as it is now. */
  async function look(name: string) {
    checked[name] = await axeViolations(page);
    await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  }
  async function login(email: string, password: string) {
    await page.goto(`${base}/admin/login`);
    await page.fill("#email", email);
    await page.fill("#password", password);
    await page.click("button[type=submit]");
  }

  await t.step("a wrong password and a normal user are refused; a superuser gets in", async () => {
    await page.goto(`${base}/admin`);
    assert.equal(new URL(page.url()).pathname, "/admin/login");
    await look("login");
    await login(admin.email, "not the password");
    assert.match(await page.textContent("[role=alert]") ?? "", /Incorrect email or password/);
    await login(normal.email, normal.password);
    assert.match(await page.textContent("[role=alert]") ?? "", /for superusers only/);
    assert.equal(new URL(page.url()).pathname, "/admin/login");
    await login(admin.email, admin.password);
    assert.equal(new URL(page.url()).pathname, "/admin");
    assert.match(await page.textContent("header") ?? "", /ops@example\.com/);
  });

  await t.step("every page renders for the operator", async () => {
    for (
      const [name, path] of [
        ["overview", "/admin"],
        ["jobs", "/admin/jobs"],
        ["schedules", "/admin/schedules"],
        ["flags", "/admin/flags"],
        ["flag", "/admin/flags/FF_ENABLE_REGISTRATION?key=user-1"],
        ["users", "/admin/users"],
        ["history", "/admin/history"],
        ["live changes", "/admin/changes"],
        ["emails", "/admin/emails"],
        ["email preview", "/admin/emails/templates/reset_password"],
        ["analytics", "/admin/analytics"],
        ["migrations", "/admin/migrations"],
      ]
    ) {
      const res = await page.goto(`${base}${path}`);
      assert.equal(res?.status(), 200, path);
      await look(name!);
    }
  });

  await t.step("a job's page shows its flow, its batch and what it logged", async () => {
    await db.sql.unsafe(STARTS_TABLE_SQL);
    await db.sql.unsafe(BATCH_CALLBACKS_SQL);
    const ids = await flow([
      { ref: "first", job: recordOrFail, data: { key: "flow-first", fail: true } },
      { ref: "then", job: recordOrFail, data: { key: "flow-then" }, after: ["first"] },
    ]);
    const { jobIds } = await batch("console", [
      { job: chatty, data: { lines: 2 } },
      { job: chatty, data: { lines: 1 } },
    ], { onComplete: { job: batchDone, data: { tag: "console" } } });
    await waitFor(
      "the batch's callback",
      async () => (await db.sql`select 1 from batch_callbacks`).length === 1,
    );
    await waitFor(
      "the flow's second step cancelled",
      async () =>
        (await db.sql`select 1 from pgboss.job where id = ${ids.then!} and state = 'cancelled'`)
          .length === 1,
    );
    await page.goto(`${base}/admin/jobs/${ids.first}`);
    assert.match(
      await page.textContent("main") ?? "",
      /Jobs that start after it\s*test-record-or-fail\s*cancelled/,
    );
    await look("job with a flow");
    await page.goto(`${base}/admin/jobs/${jobIds[0]}`);
    const text = await page.textContent("main") ?? "";
    assert.match(text, /Batch: console/);
    assert.match(text, /2 jobs: 2 completed, 0 failed, 0 cancelled, 0 not ended/);
    assert.match(text, /Attempt 1/);
    await look("job in a batch");
  });

  await t.step("an email template renders inside its sandboxed frame", async () => {
    await page.goto(`${base}/admin/emails/templates/test_email`);
    const frame = page.frameLocator("iframe.email-preview");
    // The sample's address, filled into the template: the document loaded under its own CSP.
    await frame.locator("text=ada@example.com").first().waitFor({ timeout: 10_000 });
    const scripts = await page.evaluate(
      `document.querySelector("iframe.email-preview").getAttribute("sandbox")`,
    );
    assert.equal(scripts, "", "no permission granted to the frame");
  });

  await t.step("the overview refreshes itself (htmx polls its live part)", async () => {
    await page.goto(`${base}/admin`);
    const first = await page.getAttribute("#live time", "datetime");
    await waitFor(
      "the overview to refresh",
      async () => (await page.getAttribute("#live time", "datetime")) !== first,
      12_000,
    );
  });

  await t.step(`toggling ${REGISTRATION_FLAG} opens and closes signup`, async () => {
    assert.equal(await signupStatus(base), 403);
    await page.goto(`${base}/admin/flags`);
    await page.click(`#flag-${REGISTRATION_FLAG} button:has-text("on")`);
    assert.match(await page.textContent("[role=status]") ?? "", /is on/);
    await waitFor("signup to open", async () => await signupStatus(base) === 200);
    await page.click(`#flag-${REGISTRATION_FLAG} button:has-text("off")`);
    assert.match(await page.textContent("[role=status]") ?? "", /is off/);
    await waitFor("signup to close", async () => await signupStatus(base) === 403);
  });

  await t.step("a form posted without its CSRF token is refused, and changes nothing", async () => {
    await page.goto(`${base}/admin/flags`);
    await page.evaluate(
      `document.querySelectorAll("input[name=_csrf]").forEach((i) => i.remove())`,
    );
    await page.click(`#flag-${REGISTRATION_FLAG} button:has-text("on")`);
    assert.match(await page.textContent("[role=alert]") ?? "", /security token is missing/);
    const [flag] = await db
      .sql`select is_active from feature_flags where codename = ${REGISTRATION_FLAG}`;
    assert.equal(flag!.is_active, false);
  });

  await t.step("a failed job is retried from the console and completes", async () => {
    const id = (await failUntilAllowed.delay({ key: "console" }))!;
    const state = async () =>
      (await db.sql`select state::text from pgboss.job where id = ${id}`)[0]?.state;
    await waitFor("the job to fail", async () => await state() === "failed");
    await page.goto(`${base}/admin/jobs?queue=${failUntilAllowed.name}&state=failed`);
    await page.click(`a[href="/admin/jobs/${id}"]`);
    assert.match(
      await page.textContent("main") ?? "",
      /planned failure: console is not allowed yet/,
    );
    await look("job");
    await db.sql`insert into job_effects (key, attempt) values ('allow:console', 0)`;
    await page.click("summary:has-text('Retry')");
    await page.click("button:has-text('Yes, run it again')");
    assert.match(await page.textContent("[role=status]") ?? "", /queued again/);
    await waitFor("the job to complete", async () => await state() === "completed");
    const [effect] = await db.sql`select attempt from job_effects where key = 'console'`;
    assert.ok(effect, "the retried job ran its handler");
  });

  async function apiLogin(email: string, password: string) {
    const res = await fetch(`${base}/api/v1/login/access-token`, {
      method: "POST",
      body: new URLSearchParams({ username: email, password }),
    });
    return { status: res.status, body: await res.json() };
  }

  await t.step("a deactivated user can no longer log in to the API", async () => {
    const before = await apiLogin(bob.email, bob.password);
    assert.equal(before.status, 200);
    await page.goto(`${base}/admin/users?q=bob@`);
    await page.click("a:has-text('bob@example.com')");
    await page.click("summary:has-text('Deactivate')");
    await page.click("button:has-text('Yes, deactivate')");
    assert.match(await page.textContent("[role=status]") ?? "", /bob@example\.com is deactivated/);
    await look("user");
    const after = await apiLogin(bob.email, bob.password);
    assert.deepEqual(after, { status: 400, body: { detail: "Inactive user" } });
    const me = await fetch(`${base}/api/v1/users/me`, {
      headers: { Authorization: `Bearer ${before.body.access_token}` },
    });
    await me.body?.cancel();
    assert.equal(me.status, 403, "the token issued before is revoked");
  });

  await t.step("an audit event is reverted, and a stale revert shows the 409", async () => {
    const [event] = await db.sql`
      select id::text from tusk_history.events
      where table_name = 'users' and row_id = ${bob.user.id} and op = 'update'
      order by id desc limit 1`;
    await page.goto(`${base}/admin/history?table=users&row_id=${bob.user.id}`);
    assert.match(await page.textContent("main table") ?? "", /console/);
    await page.click(`a[href="/admin/history/${event!.id}"]`);
    await look("history-event");
    await page.click("summary:has-text('Revert')");
    await page.click("button:has-text('Yes, revert this change')");
    assert.match(await page.textContent("[role=status]") ?? "", /Reverted event/);
    const [row] = await db.sql`select is_active from users where id = ${bob.user.id}`;
    assert.equal(row!.is_active, true);
    assert.equal((await apiLogin(bob.email, bob.password)).status, 200);

    await page.goto(`${base}/admin/history/${event!.id}`);
    await page.click("summary:has-text('Revert')");
    await page.click("button:has-text('Yes, revert this change')");
    assert.match(
      await page.textContent("[role=alert]") ?? "",
      /Not reverted: The row has changed since this event/,
    );
    await look("history-conflict");
  });

  await t.step(
    "an analytics export run from the console fills the reports and the chart",
    async () => {
      // Items over the last three weeks, so the chart has something to draw.
      await db.sql`
      insert into items (title, owner_id, created_at)
      select 'item ' || n, case when n % 3 = 0 then ${bob.user.id}::uuid else ${admin.user.id}::uuid end,
        now() - make_interval(days => n % 21)
      from generate_series(1, 90) n`;
      await page.goto(`${base}/admin/analytics`);
      assert.match(await page.textContent("main") ?? "", /No export yet/);
      await page.click("summary:has-text('Run an export now')");
      await page.click("button:has-text('Yes, export now')");
      assert.match(await page.textContent("[role=status]") ?? "", /Export queued as job/);
      await waitFor("the export's reports", async () => {
        await page.goto(`${base}/admin/analytics`);
        return await page.locator("svg.chart").count() > 0;
      }, 30_000);
      const text = await page.textContent("main") ?? "";
      assert.match(text, /90 items/);
      assert.match(text, /ops@example\.com\s*60/);
      assert.equal(await page.locator("svg.chart rect.bar").count(), 30);
      await look("analytics");
    },
  );

  await t.step("logging out ends the session, for this browser and for its cookie", async () => {
    const [cookie] = (await context.cookies()).filter((c) => c.name === "tusk_console");
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/admin");
    await page.click("button:has-text('Log out')");
    assert.match(await page.textContent("[role=status]") ?? "", /logged out/);
    await page.goto(`${base}/admin/users`);
    assert.equal(new URL(page.url()).pathname, "/admin/login");
    const stolen = await fetch(`${base}/admin/users`, {
      headers: { Cookie: `tusk_console=${cookie.value}` },
      redirect: "manual",
    });
    await stolen.body?.cancel();
    assert.equal(stolen.status, 303);
  });

  await t.step(
    "the checks can fail: axe sees a broken page, and the CSP blocks an inline script",
    async () => {
      await page.goto(`${base}/admin/login`);
      await page.evaluate(
        `document.body.insertAdjacentHTML("beforeend", '<img src="/x.png"><input>')`,
      );
      const found = await axeViolations(page);
      assert.ok(found.some((v) => v.startsWith("image-alt")), found.join("; "));
      const before = cspViolations.length;
      await page.evaluate(
        `{ const s = document.createElement("script"); s.textContent = "1"; document.body.append(s); }`,
      );
      await waitFor("the CSP report", () => Promise.resolve(cspViolations.length > before), 5000);
      cspViolations.splice(before);
    },
  );

  await t.step("no page has a serious accessibility violation or a CSP violation", () => {
    const failing = Object.entries(checked).filter(([, v]) => v.length > 0);
    assert.deepEqual(failing, [], "axe-core: serious or critical violations");
    assert.deepEqual(cspViolations, []);
    assert.ok(Object.keys(checked).length >= 12, `pages checked: ${Object.keys(checked)}`);
  });
});
