/**
 * `GET /api/v1/emails/`: superusers only, filters that narrow as documented,
 * newest first; and the hourly `maintenance` job keeps only
 * `EMAIL_LOG_RETENTION_DAYS` of it. (Rows made by real sends: mailer_test.ts.)
 */
import assert from "node:assert/strict";
import { logEmail, type NewEmailLogEntry } from "../../db/email_log.ts";
import { maintenance } from "../../jobs/maintenance.ts";
import { createLogger } from "../../lib/logging.ts";
import { testApp, testConfig } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import type { JobContext } from "../../jobs/spec.ts";

function entry(overrides: Partial<NewEmailLogEntry>): NewEmailLogEntry {
  return {
    template: "test_email",
    to: "someone@example.com",
    subject: "Tusk - Test email",
    status: "sent",
    transport: "smtp",
    message_id: `<${crypto.randomUUID()}@example.com>`,
    smtp_response: "250 2.0.0 Ok",
    error: null,
    attempt: 1,
    job_id: crypto.randomUUID(),
    ...overrides,
  };
}

Deno.test("the email log: superusers only, filtered by recipient, status, template and time", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const admin = await makeUser(db.sql, { superuser: true });
  const user = await makeUser(db.sql);
  const h = bearer(await login(app, admin.email, admin.password));

  await logEmail(db.sql, entry({ to: user.email, template: "reset_password", status: "failed" }));
  await logEmail(db.sql, entry({ to: user.email.toUpperCase(), template: "reset_password" }));
  await logEmail(db.sql, entry({ to: "other@example.com", status: "skipped", transport: "off" }));
  await db
    .sql`update email_log set at = '2026-01-01T00:00:00Z' where recipient = 'other@example.com'`;

  const all = await call(app, "/api/v1/emails/", { headers: h });
  assert.equal(all.status, 200);
  assert.equal(all.body.count, 3);
  assert.deepEqual(Object.keys(all.body.data[0]).sort(), [
    "at",
    "attempt",
    "error",
    "id",
    "job_id",
    "message_id",
    "smtp_response",
    "status",
    "subject",
    "template",
    "to",
    "transport",
    "user_id",
  ]);
  assert.equal(all.body.data[2].to, "other@example.com", "newest first");
  // The account behind an address is found without regard to case.
  assert.equal(all.body.data[0].user_id, user.user.id);

  const get = async (query: string) => (await call(app, `/api/v1/emails?${query}`, { headers: h }));
  const mine = await get(`to=${encodeURIComponent(user.email)}`);
  assert.equal(mine.body.count, 2);
  assert.deepEqual((await get("status=failed")).body.data.map((r: { to: string }) => r.to), [
    user.email,
  ]);
  assert.equal((await get("template=test_email")).body.count, 1);
  assert.equal((await get("until=2026-06-01")).body.count, 1);
  assert.equal((await get("since=2026-06-01T00:00:00Z")).body.count, 2);
  assert.equal((await get(`user_id=${user.user.id}`)).body.count, 2);
  const page = await get("skip=1&limit=1");
  assert.equal(page.body.count, 3);
  assert.equal(page.body.data.length, 1);

  const bad = await get("status=lost");
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ["query", "status"]);
  assert.equal((await get("since=yesterday")).status, 422);

  const userH = bearer(await login(app, user.email, user.password));
  const forbidden = await call(app, "/api/v1/emails/", { headers: userH });
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.body.detail, "The user doesn't have enough privileges");
  assert.equal((await call(app, "/api/v1/emails/")).status, 401);
});

Deno.test("maintenance deletes email log rows older than EMAIL_LOG_RETENTION_DAYS", async () => {
  await using db = await migratedDatabase();
  await logEmail(db.sql, entry({ to: "old@example.com" }));
  await logEmail(db.sql, entry({ to: "recent@example.com" }));
  await db
    .sql`update email_log set at = now() - interval '31 days' where recipient = 'old@example.com'`;
  await db
    .sql`update email_log set at = now() - interval '29 days' where recipient = 'recent@example.com'`;
  const config = testConfig({ EMAIL_LOG_RETENTION_DAYS: "30" });
  await testApp(db); // binds the job client maintenance sends batch callbacks with
  const ctx = {
    sql: db.sql,
    config,
    log: createLogger({ level: "error" }),
    signal: new AbortController().signal,
  } as unknown as JobContext;
  const result = await maintenance.handler({}, ctx) as { emails: number };
  assert.equal(result.emails, 1);
  const left = await db.sql`select recipient from email_log`;
  assert.deepEqual(left.map((r) => r.recipient), ["recent@example.com"]);
});
