import assert from "node:assert/strict";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, login, makeUser } from "../_factories.ts";
import { consoleClient } from "./_client.ts";
import { deleteStaleSessions } from "../../db/console_sessions.ts";
import { logEmail } from "../../db/email_log.ts";
import { sendEmail } from "../../jobs/send_email.ts";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import {
  EFFECTS_TABLE_SQL,
  failUntilAllowed,
  recordEffect,
  TEST_JOBS,
} from "../fixtures/test_jobs.ts";

async function setup(env: Record<string, string> = {}) {
  const db = await migratedDatabase();
  const started = await testApp(db, { env });
  const admin = await makeUser(db.sql, { superuser: true });
  const user = await makeUser(db.sql);
  return { db, ...started, admin, user };
}

function sessionCount(db: Awaited<ReturnType<typeof setup>>["db"]) {
  return db.sql`select count(*)::int as n from console_sessions`.then((r) => r[0]!.n as number);
}

Deno.test("the console's pages need a session: they send the browser to the login page", async () => {
  const { db, app } = await setup();
  await using _ = db;
  for (const path of ["/admin", "/admin/", "/admin/users", "/admin/jobs/x", "/admin/nope"]) {
    const res = await app.request(path);
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get("Location"), "/admin/login", path);
  }
  const htmx = await app.request("/admin/overview/live", { headers: { "HX-Request": "true" } });
  assert.equal(htmx.status, 401);
  assert.equal(htmx.headers.get("HX-Redirect"), "/admin/login");
  const post = await app.request("/admin/flags/FF_ENABLE_REGISTRATION", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "is_active=true",
  });
  assert.equal(post.status, 303);
  const [flag] = await db.sql`select is_active from feature_flags`;
  assert.equal(flag!.is_active, false);
});

Deno.test("login sets an HttpOnly, SameSite=Strict cookie scoped to /admin, kept only as a hash", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  const res = await client.login(admin.email, admin.password);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("Location"), "/admin");
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("tusk_console="))!;
  assert.match(cookie, /; Path=\/admin; HttpOnly; SameSite=Strict$/);
  assert.doesNotMatch(cookie, /Secure/, "local development runs over plain HTTP");
  const token = client.cookies.get("tusk_console")!;
  const rows = await db.sql`select token_hash, csrf_token from console_sessions`;
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.token_hash.length, 32, "a SHA-256, not the token");
  assert.notEqual(new TextDecoder().decode(rows[0]!.token_hash), token);
  assert.doesNotMatch(res.headers.get("Location")!, new RegExp(token));
  const page = await client.html("/admin");
  assert.match(page, /<h1>Overview<\/h1>/);
  assert.match(page, new RegExp(admin.email));
});

Deno.test("outside local development the session cookie is Secure", async () => {
  const { db, app, admin } = await setup({
    ENVIRONMENT: "staging",
    FIRST_SUPERUSER: "root@example.com",
    FIRST_SUPERUSER_PASSWORD: "a-real-password-for-staging",
    POSTGRES_PASSWORD: "a-real-database-password",
  });
  await using _ = db;
  const res = await consoleClient(app).login(admin.email, admin.password);
  assert.equal(res.status, 303);
  assert.match(res.headers.getSetCookie().find((c) => c.startsWith("tusk_console="))!, /; Secure/);
});

Deno.test("wrong passwords, non-superusers and inactive users get the login page with a message", async () => {
  const { db, app, admin, user } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  const wrong = await client.login(admin.email, "not it at all");
  assert.equal(wrong.status, 400);
  assert.match(await wrong.text(), /Incorrect email or password/);
  const normal = await client.login(user.email, user.password);
  assert.equal(normal.status, 403);
  assert.match(await normal.text(), /This console is for superusers only/);
  const inactive = await makeUser(db.sql, { superuser: true, active: false });
  const refused = await client.login(inactive.email, inactive.password);
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /Inactive user/);
  assert.equal(await sessionCount(db), 0);
  assert.equal(client.cookies.has("tusk_console"), false);
});

Deno.test("the console's login is throttled with the API's: failures in one count in the other", async () => {
  const { db, app, admin } = await setup({ LOGIN_LIMIT_PER_ACCOUNT: "3" });
  await using _ = db;
  const client = consoleClient(app);
  for (let i = 0; i < 2; i++) assert.equal((await client.login(admin.email, "wrong")).status, 400);
  const api = await app.request("/api/v1/login/access-token", {
    method: "POST",
    body: new URLSearchParams({ username: admin.email, password: "wrong" }),
  });
  assert.equal(api.status, 400);
  await api.body?.cancel();
  const throttled = await client.login(admin.email, admin.password);
  assert.equal(throttled.status, 429);
  assert.ok(Number(throttled.headers.get("Retry-After")) > 0);
  assert.match(await throttled.text(), /Too many failed login attempts/);
});

Deno.test("a login form posted without its token, or with another's, is refused", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.html("/admin/login");
  const res = await client.post("/admin/login", {
    _login: "forged",
    email: admin.email,
    password: admin.password,
  });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /security token is missing or out of date/);
  assert.equal(await sessionCount(db), 0);
});

Deno.test("every state-changing request needs the session's CSRF token; without it nothing changes", async () => {
  const { db, app, admin, user } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  await client.html("/admin/flags");
  for (
    const [path, fields] of [
      ["/admin/flags/FF_ENABLE_REGISTRATION", { is_active: "true" }],
      ["/admin/flags", { codename: "FF_NEW" }],
      [`/admin/users/${user.user.id}/active`, { is_active: "false" }],
      ["/admin/logout", {}],
    ] as const
  ) {
    const missing = await client.post(path, fields, { csrf: false });
    assert.equal(missing.status, 403, path);
    assert.match(await missing.text(), /security token is missing/);
    const forged = await client.post(path, { ...fields, _csrf: "x".repeat(43) });
    assert.equal(forged.status, 403, path);
    await forged.body?.cancel();
  }
  const flags = await db.sql`select codename, is_active from feature_flags`;
  assert.deepEqual([...flags], [{ codename: "FF_ENABLE_REGISTRATION", is_active: false }]);
  const [row] = await db.sql`select is_active from users where id = ${user.user.id}`;
  assert.equal(row!.is_active, true);
  assert.equal(await sessionCount(db), 1);
  // The header works too (htmx sends it).
  const page = await client.html("/admin/flags");
  const csrf = page.match(/name="_csrf" value="([^"]+)"/)![1]!;
  const viaHeader = await app.request("/admin/flags/FF_ENABLE_REGISTRATION", {
    method: "POST",
    headers: {
      Cookie: `tusk_console=${client.cookies.get("tusk_console")}`,
      "X-CSRF-Token": csrf,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: "is_active=true",
  });
  assert.equal(viaHeader.status, 303);
});

Deno.test("logout, deactivation, demotion and a new password end console sessions at once", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const other = await makeUser(db.sql, { superuser: true });
  const operator = consoleClient(app);
  await operator.login(admin.email, admin.password);

  for (const change of ["deactivate", "demote", "password"] as const) {
    const victim = consoleClient(app);
    await db
      .sql`update users set is_active = true, is_superuser = true where id = ${other.user.id}`;
    assert.equal((await victim.login(other.email, other.password)).status, 303, change);
    assert.equal((await victim.get("/admin/users")).status, 200, change);
    if (change === "deactivate") {
      await operator.html(`/admin/users/${other.user.id}`);
      const res = await operator.post(`/admin/users/${other.user.id}/active`, {
        is_active: "false",
      });
      assert.equal(res.status, 303);
    } else if (change === "demote") {
      await operator.post(`/admin/users/${other.user.id}/superuser`, { is_superuser: "false" });
    } else {
      const token = await login(app, other.email, other.password);
      const res = await app.request("/api/v1/users/me/password", {
        method: "PATCH",
        headers: { ...bearer(token), "Content-Type": "application/json" },
        body: JSON.stringify({ current_password: other.password, new_password: "a new password" }),
      });
      assert.equal(res.status, 200);
      other.password = "a new password";
    }
    const after = await victim.get("/admin/users");
    assert.equal(after.status, 303, change);
    assert.equal(after.headers.get("Location"), "/admin/login");
    const notice = await victim.html("/admin/login");
    assert.match(notice, /Your console session has ended/);
  }

  const out = await operator.post("/admin/logout", {});
  assert.equal(out.status, 303);
  assert.equal(operator.cookies.has("tusk_console"), false);
  const stale = await app.request("/admin", { headers: { Cookie: "tusk_console=whatever" } });
  assert.equal(stale.status, 303);
  const left = await db.sql`select 1 from console_sessions where user_id = ${admin.user.id}`;
  assert.equal(left.length, 0, "logout deletes the session");
});

Deno.test("a console session unused for CONSOLE_IDLE_MINUTES ends; one in use lives on", async () => {
  const { db, app, admin } = await setup({ CONSOLE_IDLE_MINUTES: "20" });
  await using _ = db;
  const operator = consoleClient(app);
  await operator.login(admin.email, admin.password);
  await db.sql`update console_sessions set last_seen_at = now() - interval '19 minutes'`;
  assert.equal((await operator.get("/admin/users")).status, 200, "within the idle time");
  const [seen] = await db.sql`select now() - last_seen_at < interval '1 minute' as fresh
    from console_sessions`;
  assert.equal(seen!.fresh, true, "using the session keeps it alive");
  await db.sql`update console_sessions set last_seen_at = now() - interval '21 minutes'`;
  const idle = await operator.get("/admin/users");
  assert.equal(idle.status, 303);
  assert.equal(idle.headers.get("Location"), "/admin/login");
  assert.match(await operator.html("/admin/login"), /Your console session has ended/);
  // The hourly maintenance deletes idle sessions.
  assert.equal(await deleteStaleSessions(db.sql, 20), 1);
  assert.equal(await sessionCount(db), 0);
});

Deno.test("changes made in the console are in audit history with the operator and the console label", async () => {
  const { db, app, admin, user } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  await client.html("/admin/flags");
  assert.equal(
    (await client.post("/admin/flags/FF_ENABLE_REGISTRATION", { is_active: "true" })).status,
    303,
  );
  await client.post(`/admin/users/${user.user.id}/active`, { is_active: "false" });
  const res = await app.request(`/api/v1/history/?label=console`, {
    headers: bearer(await login(app, admin.email, admin.password)),
  });
  const events = (await res.json()).data as {
    table: string;
    diff: Record<string, unknown>;
    context: Record<string, unknown>;
  }[];
  assert.deepEqual(events.map((e) => e.table).sort(), ["feature_flags", "users"]);
  for (const e of events) {
    assert.equal(e.context.user_id, admin.user.id);
    assert.equal(e.context.method, "POST");
    assert.match(String(e.context.route), /^\/admin\//);
  }
  const history = await client.html(`/admin/history?table=users&row_id=${user.user.id}`);
  assert.match(history, /is_active/);
  assert.match(history, new RegExp(admin.email));
});

Deno.test("the last active superuser cannot deactivate or demote themselves from the console", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  await client.html(`/admin/users/${admin.user.id}`);
  for (const [path, field] of [["active", "is_active"], ["superuser", "is_superuser"]]) {
    const res = await client.post(`/admin/users/${admin.user.id}/${path}`, { [field!]: "false" });
    assert.equal(res.status, 303);
    const page = await client.html(`/admin/users/${admin.user.id}`);
    assert.match(page, /The last active superuser cannot be deleted, deactivated or demoted/);
  }
  const [row] = await db.sql`select is_active, is_superuser from users where id = ${admin.user.id}`;
  assert.deepEqual({ ...row }, { is_active: true, is_superuser: true });
});

Deno.test("flags and users created in the console follow the API's rules", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  await client.html("/admin/flags");
  await client.post("/admin/flags", { codename: "9bad" });
  assert.match(await client.html("/admin/flags"), /Codename: Use a letter, then letters/);
  await client.post("/admin/flags", { codename: "FF_NEW", label: "New", is_active: "true" });
  assert.match(await client.html("/admin/flags"), /Flag FF_NEW created \(on\)/);
  await client.post("/admin/flags", { codename: "FF_NEW" });
  assert.match(
    await client.html("/admin/flags"),
    /A feature flag with this codename already exists/,
  );
  await client.post("/admin/flags/FF_NEW/delete", {});
  assert.equal((await client.post("/admin/flags/FF_NEW/delete", {})).status, 404);

  await client.html("/admin/users");
  await client.post("/admin/users", { email: "not-an-email", password: "long enough" });
  assert.match(await client.html("/admin/users"), /Enter a valid email address/);
  await client.post("/admin/users", { email: "new@example.com", password: "short" });
  assert.match(await client.html("/admin/users"), /The password must be 8 to 128 characters/);
  const made = await client.post("/admin/users", {
    email: "new@example.com",
    password: "long enough",
    full_name: "New Person",
  });
  assert.equal(made.status, 303);
  assert.match(made.headers.get("Location")!, /^\/admin\/users\/[0-9a-f-]{36}$/);
  assert.ok(await login(app, "new@example.com", "long enough"));
  await client.post("/admin/users", { email: "NEW@example.com", password: "long enough" });
  assert.match(await client.html("/admin/users"), /already exists/);
  const search = await client.html("/admin/users?q=new@");
  assert.match(search, /new@example\.com/);
  assert.doesNotMatch(search.slice(search.indexOf("<tbody>")), new RegExp(admin.email));
});

Deno.test("bad input in the console is a 4xx page that says what to fix", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  for (
    const [path, status, detail] of [
      ["/admin/users?page=0", 400, /page must be a whole number/],
      ["/admin/users?page=abc", 400, /page must be a whole number/],
      ["/admin/jobs?queue=nope", 404, /There is no queue named nope/],
      ["/admin/jobs?queue=maintenance&state=weird", 400, /state must be one of/],
      ["/admin/jobs/not-a-uuid", 404, /Job not found/],
      [`/admin/jobs/${crypto.randomUUID()}`, 404, /Job not found/],
      [`/admin/users/${crypto.randomUUID()}`, 404, /User not found/],
      ["/admin/history?user_id=zzz", 400, /user_id must be a UUID/],
      ["/admin/history?table=secrets", 400, /table must be a tracked table: /],
      ["/admin/history/99999999", 404, /History event not found/],
      ["/admin/history/abc", 404, /History event not found/],
      ["/admin/no-such-page", 404, /There is no such console page/],
    ] as const
  ) {
    const res = await client.get(path);
    assert.equal(res.status, status, path);
    assert.equal(res.headers.get("Content-Type"), "text/html; charset=UTF-8", path);
    assert.match(await res.text(), detail, path);
  }
  await client.html("/admin/flags");
  const bad = await client.post("/admin/flags/FF_ENABLE_REGISTRATION", { is_active: "maybe" });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /is_active must be true or false/);
});

Deno.test("console pages carry a strict CSP, are never cached, and link only hashed local assets", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  const loginPage = await client.get("/admin/login");
  const csp = loginPage.headers.get("Content-Security-Policy")!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(loginPage.headers.get("Cache-Control"), "no-store");
  await client.login(admin.email, admin.password);
  for (
    const path of [
      "/admin",
      "/admin/jobs",
      "/admin/flags",
      "/admin/users",
      "/admin/emails",
      "/admin/analytics",
    ]
  ) {
    const html = await client.html(path);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, `${path}: an inline script`);
    assert.doesNotMatch(html, /\sstyle=|<style/, `${path}: an inline style`);
    assert.doesNotMatch(html, /https?:\/\//, `${path}: something from another host`);
    for (const [, url] of html.matchAll(/(?:src|href)="(\/admin\/assets\/[^"]+)"/g)) {
      assert.match(url!, /\?v=[0-9a-f]{12}$/);
      const asset = await app.request(url!);
      assert.equal(asset.status, 200, url);
      assert.equal(asset.headers.get("Cache-Control"), "public, max-age=31536000, immutable");
      await asset.body?.cancel();
    }
  }
  const htmx = await app.request("/admin/assets/htmx.min.js");
  assert.match(await htmx.text(), /htmx/);
  assert.equal((await app.request("/admin/assets/deno.json")).status, 404);
  assert.notEqual((await app.request("/admin/assets/../../deno.json")).status, 200);
});

Deno.test("a job's data is shown with its secrets redacted", async () => {
  const { db, app, admin } = await setup();
  await using _ = db;
  const id = await sendEmail.delay({
    to: "someone@example.com",
    subject: "Reset",
    html: "<a href='https://x/reset?token=SECRET-TOKEN'>reset</a>",
    text: "https://x/reset?token=SECRET-TOKEN",
  });
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  const page = await client.html(`/admin/jobs/${id}`);
  assert.match(page, /someone@example\.com/);
  assert.match(page, /\[redacted\]/);
  assert.doesNotMatch(page, /SECRET-TOKEN/);
});

Deno.test("a password reset email sent from the console carries a link that resets the password", async () => {
  const db = await migratedDatabase();
  await using _ = db;
  const dir = await Deno.makeTempDir({ prefix: "tusk-console-mail-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  const { app } = await testApp(db, {
    env: { EMAIL_TRANSPORT: "file", EMAILS_DIR: dir },
    work: true,
  });
  const admin = await makeUser(db.sql, { superuser: true });
  const user = await makeUser(db.sql);
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  await client.html(`/admin/users/${user.user.id}`);
  const res = await client.post(`/admin/users/${user.user.id}/password-reset`, {});
  assert.equal(res.status, 303);
  assert.match(
    await client.html(`/admin/users/${user.user.id}`),
    /password reset email to .* is queued/,
  );
  let eml = "";
  for (let i = 0; i < 200 && eml === ""; i++) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".eml")) eml = await Deno.readTextFile(`${dir}/${entry.name}`);
    }
    if (eml === "") await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(eml, new RegExp(`To: ${user.email}`));
  const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(
    eml.replace(/=\r?\n/g, "").replace(/=3D/g, "="),
  )?.[1];
  assert.ok(token, "a reset link in the email");
  const reset = await app.request("/api/v1/reset-password/", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, new_password: "set from the console" }),
  });
  assert.equal(reset.status, 200);
  assert.ok(await login(app, user.email, "set from the console"));
});

Deno.test("without email configured the console says a reset email cannot be sent, and sends none", async () => {
  const { db, app, admin, user } = await setup();
  await using _ = db;
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  const page = await client.html(`/admin/users/${user.user.id}`);
  assert.match(page, /Email is off \(EMAIL_TRANSPORT=off\)/);
  const res = await client.post(`/admin/users/${user.user.id}/password-reset`, {});
  assert.equal(res.status, 409);
  const [jobs] = await db
    .sql`select count(*)::int as n from pgboss.job where name = 'password-recovery'`;
  assert.equal(jobs!.n, 0);
});

Deno.test("jobs are cancelled, retried and retried all-failed from the console, by the job API's rules", async () => {
  const db = await migratedDatabase();
  await using _ = db;
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  const { app } = await testApp(db, { work: true, jobs: [...JOBS, ...TEST_JOBS] });
  const admin = await makeUser(db.sql, { superuser: true });
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  const state = async (id: string) =>
    (await db.sql`select state::text, retry_limit from pgboss.job where id = ${id}`)[0]!;

  const later = (await recordEffect.delayIn({ hours: 1 }, { key: "later" }))!;
  await client.html(`/admin/jobs/${later}`);
  assert.equal((await client.post(`/admin/jobs/${later}/retry`, {})).status, 303);
  assert.match(
    await client.html(`/admin/jobs/${later}`),
    /Only failed, cancelled jobs can be retried; this one is created/,
  );
  await client.post(`/admin/jobs/${later}/cancel`, {});
  assert.match(await client.html(`/admin/jobs/${later}`), /Job cancelled\./);
  assert.equal((await state(later)).state, "cancelled");

  const failed = [
    (await failUntilAllowed.delay({ key: "a" }))!,
    (await failUntilAllowed.delay({ key: "b" }))!,
  ];
  for (let i = 0; i < 200; i++) {
    if ((await Promise.all(failed.map(state))).every((s) => s.state === "failed")) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const queuePage = await client.html(`/admin/jobs?queue=${failUntilAllowed.name}&state=failed`);
  assert.match(queuePage, /Retry all 2 failed/);
  await client.post("/admin/jobs/retry-failed", { queue: failUntilAllowed.name });
  assert.match(
    await client.html(`/admin/jobs?queue=${failUntilAllowed.name}`),
    /2 failed jobs in test-fail-until-allowed queued again/,
  );
  for (const id of failed) assert.equal((await state(id)).retry_limit, 1, "one more attempt each");
  const unknown = await client.post("/admin/jobs/retry-failed", { queue: "no-such-queue" });
  assert.equal(unknown.status, 404);
});

Deno.test("the emails page previews each template in a sandbox and shows the email log", async () => {
  const { db, app, admin, user } = await setup({ PROJECT_NAME: "Acme <Ops>" });
  await using _ = db;
  const jobId = crypto.randomUUID();
  await logEmail(db.sql, {
    template: "reset_password",
    to: user.email,
    subject: "Acme - Password recovery",
    status: "failed",
    transport: "smtp",
    message_id: null,
    smtp_response: "550 5.1.1 No such mailbox",
    error: "Can't send mail - all recipients were rejected",
    attempt: 1,
    job_id: jobId,
  });
  await logEmail(db.sql, {
    template: "test_email",
    to: "someone@example.com",
    subject: "Acme - Test email",
    status: "sent",
    transport: "smtp",
    message_id: "<m@example.com>",
    smtp_response: "250 2.0.0 Ok",
    error: null,
    attempt: 1,
    job_id: null,
  });
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);

  const list = await client.html("/admin/emails");
  for (const name of ["reset_password", "new_account", "test_email", "email_changed"]) {
    assert.match(list, new RegExp(`href="/admin/emails/templates/${name}"`));
  }
  assert.match(list, /550 5\.1\.1 No such mailbox/);
  assert.match(list, new RegExp(`href="/admin/users/${user.user.id}"`), "the recipient's account");
  assert.match(list, new RegExp(`href="/admin/jobs/${jobId}"`), "the job that sent it");
  const failed = await client.html("/admin/emails?status=failed");
  assert.match(failed, /No such mailbox/);
  assert.doesNotMatch(failed, /someone@example\.com<\/td>/);
  const bad = await client.get("/admin/emails?status=lost");
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /status must be one of: sent, failed, skipped/);

  const preview = await client.html("/admin/emails/templates/reset_password");
  assert.match(preview, /Acme &lt;Ops&gt; - Password recovery for user ada@example\.com/);
  assert.match(
    preview,
    /<iframe[^>]*src="\/admin\/emails\/templates\/reset_password\/html"[^>]*sandbox=""/,
  );
  // The email's own styles stay in its frame; the console page has none of them.
  assert.doesNotMatch(preview, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.doesNotMatch(preview, /\sstyle=|<style/);
  const doc = await client.get("/admin/emails/templates/reset_password/html");
  assert.equal(doc.status, 200);
  const csp = doc.headers.get("Content-Security-Policy")!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /(^|; )sandbox(;|$)/);
  assert.match(csp, /frame-ancestors 'self'/);
  assert.doesNotMatch(csp, /script-src/);
  const html = await doc.text();
  assert.match(html, /Acme &#60;Ops&#62;/);
  assert.match(html, /reset-password\?token=preview-only-this-is-not-a-token/);
  assert.equal((await client.get("/admin/emails/templates/nope")).status, 404);
  assert.equal((await client.get("/admin/emails/templates/nope/html")).status, 404);
  const anonymous = await consoleClient(app).get("/admin/emails/templates/reset_password/html");
  assert.notEqual(anonymous.status, 200, "the preview needs a session too");
  await anonymous.body?.cancel();
});
