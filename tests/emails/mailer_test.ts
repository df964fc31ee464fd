import assert from "node:assert/strict";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, jsonBody, login, makeUser } from "../_factories.ts";
import { freePort, waitFor } from "../process.ts";
import { type Received, smtpEnv, smtpServer } from "../_smtp.ts";
import type { EmailLogEntry } from "../../db/email_log.ts";

/** A row of the email log as the API answers it. */
type LogRow = Omit<EmailLogEntry, "at"> & { at: string };

/** `GET /api/v1/emails/` as a superuser. */
async function emailLog(
  app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> },
  headers: HeadersInit,
  query = "",
): Promise<{ data: LogRow[]; count: number }> {
  const res = await app.request(`/api/v1/emails/${query}`, { headers });
  assert.equal(res.status, 200);
  return await res.json();
}

/** No column of any row holds the reset link, nor its token. */
function assertNoLink(log: { data: LogRow[] }, link: string) {
  const token = link.split("token=")[1]!;
  const all = JSON.stringify(log);
  assert.ok(!all.includes(token) && !all.includes("token="), "the log holds no link: " + all);
}

Deno.test("SMTP: recovery, new-account and test emails arrive with the right content", async () => {
  const smtp = await smtpServer();
  try {
    await using db = await migratedDatabase();
    const env = { ...smtpEnv(smtp.port), PROJECT_NAME: "Acme <Corp> & Co" };
    const { app } = await testApp(db, { env, work: true });
    const admin = await makeUser(db.sql, { superuser: true });
    const adminH = bearer(await login(app, admin.email, admin.password));

    const recovery = await app.request(`/api/v1/password-recovery/${admin.email}`, {
      method: "POST",
    });
    assert.equal(recovery.status, 200);
    await recovery.body?.cancel();
    const created = await app.request(
      "/api/v1/users/",
      jsonBody("POST", { email: "o'brien@example.com", password: "initial secret 42" }, adminH),
    );
    assert.equal(created.status, 200);
    const test = await app.request("/api/v1/utils/test-email/?email_to=tester@example.com", {
      method: "POST",
      headers: adminH,
    });
    assert.equal(test.status, 201);
    assert.deepEqual(await test.json(), { message: "Test email sent" });

    await waitFor(() => smtp.received.length >= 3);
    // The worker sends in parallel; put them back in request order.
    const order = ["Password recovery", "New account", "Test email"];
    const rank = (m: Received) => order.findIndex((o) => m.raw.includes(o));
    smtp.received.sort((a, b) => rank(a) - rank(b));
    const [reset, account, testMail] = await Promise.all(
      smtp.received.map((m) => simpleParser(m.raw)),
    );
    assert.equal(smtp.received[0]!.from, "tusk@example.com");
    assert.deepEqual(smtp.received[0]!.to, [admin.email]);
    assert.equal(reset!.from!.text, '"Tusk Mailer" <tusk@example.com>');
    assert.equal(reset!.subject, `Acme <Corp> & Co - Password recovery for user ${admin.email}`);
    assert.match(reset!.text!, /http:\/\/localhost:5173\/reset-password\?token=[A-Za-z0-9_-]{43}/);
    assert.match(
      reset!.html as string,
      /Acme &#60;Corp&#62; &#38; Co/,
      "HTML-escaped project name",
    );
    assert.doesNotMatch(reset!.html as string, /<Corp>/);

    assert.equal(account!.subject, "Acme <Corp> & Co - New account for user o'brien@example.com");
    assert.match(account!.html as string, /o&#39;brien@example\.com/);
    for (const part of [account!.text!, account!.html as string, smtp.received[1]!.raw]) {
      assert.doesNotMatch(
        part,
        /initial secret 42/,
        "the new-account email must not contain the password",
      );
    }
    assert.equal(testMail!.subject, "Acme <Corp> & Co - Test email");
    assert.deepEqual(smtp.received[2]!.to, ["tester@example.com"]);

    // The email log has one row for each, with the server's reply and no link.
    await waitFor(async () => (await emailLog(app, adminH)).count === 3);
    const log = await emailLog(app, adminH, "?status=sent");
    assert.equal(log.count, 3);
    const row = (to: string) => log.data.find((r) => r.to === to)!;
    const resetRow = row(admin.email);
    assert.equal(resetRow.template, "reset_password");
    assert.equal(resetRow.subject, reset!.subject);
    assert.equal(resetRow.transport, "smtp");
    assert.equal(resetRow.message_id, reset!.messageId);
    assert.match(resetRow.smtp_response!, /^250 /);
    assert.equal(resetRow.attempt, 1);
    assert.equal(resetRow.user_id, admin.user.id);
    assert.match(resetRow.job_id!, /^[0-9a-f-]{36}$/);
    assert.equal(row("o'brien@example.com").template, "new_account");
    assert.equal(row("o'brien@example.com").user_id, (await created.json()).id);
    assert.equal(row("tester@example.com").user_id, null, "no account has that address");
    const link = /reset-password\?token=[A-Za-z0-9_-]+/.exec(reset!.text!)![0];
    assertNoLink(log, link);
    const byRecipient = await emailLog(app, adminH, `?to=${admin.email.toUpperCase()}`);
    assert.deepEqual(byRecipient.data.map((r) => r.template), ["reset_password"]);
  } finally {
    await smtp.close();
  }
});

Deno.test("SMTP down, then up: the recovery email is retried and delivered exactly once", async () => {
  await using db = await migratedDatabase();
  const port = freePort(); // nothing listens here yet
  const { app, logs } = await testApp(db, { env: smtpEnv(port), work: true });
  const admin = await makeUser(db.sql, { superuser: true });
  const recovery = await app.request(`/api/v1/password-recovery/${admin.email}`, {
    method: "POST",
  });
  assert.equal(recovery.status, 200, "the request does not fail with the mail server");
  await recovery.body?.cancel();
  await waitFor(() => logs.some((l) => l.msg === "job failed"));
  // The worker logs the failure, then records it: wait for the record.
  const recorded = () =>
    db.sql`select state, output from pgboss.job where name = 'password-recovery'`;
  await waitFor(async () => (await recorded())[0]?.state === "retry");
  const [job] = await recorded();
  assert.match(
    JSON.stringify(job!.output),
    /ECONNREFUSED|connect/i,
    "the error is recorded on the job",
  );
  const smtp = await smtpServer(port);
  try {
    // Skip the backoff wait instead of sleeping through it.
    await db
      .sql`update pgboss.job set start_after = now() where name = 'password-recovery' and state = 'retry'`;
    await waitFor(async () =>
      (await db
        .sql`select 1 from pgboss.job where name = 'password-recovery' and state = 'completed'`)
        .length === 1
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(smtp.received.length, 1, "delivered once");
    assert.match(smtp.received[0]!.raw, /Password recovery/);

    // The log: the failed attempt with its reason, then the delivery, of the same job.
    const h = bearer(await login(app, admin.email, admin.password));
    const log = await emailLog(app, h, `?to=${admin.email}`);
    assert.deepEqual(log.data.map((r) => [r.status, r.attempt]), [["sent", 2], ["failed", 1]]);
    const [sent, failed] = log.data;
    assert.equal(sent!.job_id, failed!.job_id);
    assert.match(failed!.error!, /ECONNREFUSED|connect/i);
    assert.equal(failed!.message_id, null);
    assert.equal(failed!.user_id, admin.user.id);
    const parsed = await simpleParser(smtp.received[0]!.raw);
    assert.equal(sent!.message_id, parsed.messageId);
    assertNoLink(log, /reset-password\?token=[A-Za-z0-9_-]+/.exec(parsed.text!)![0]);
  } finally {
    await smtp.close();
  }
});

Deno.test("file transport: each message is an .eml plus an .html you can open, for its owner only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tusk-mail-" });
  try {
    // As a folder made by hand would be: readable by all, until Tusk writes reset links into it.
    await Deno.chmod(dir, 0o755);
    await using db = await migratedDatabase();
    const { app } = await testApp(db, {
      env: { EMAIL_TRANSPORT: "file", EMAILS_DIR: dir },
      work: true,
    });
    const admin = await makeUser(db.sql, { superuser: true });
    const adminH = bearer(await login(app, admin.email, admin.password));
    const res = await app.request("/api/v1/utils/test-email/?email_to=file@example.com", {
      method: "POST",
      headers: adminH,
    });
    assert.equal(res.status, 201);
    await res.body?.cancel();
    // A message is written aside (.part) and renamed into place: only whole files count.
    const list = async () =>
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
        .filter((n) => !n.endsWith(".part")).sort();
    await waitFor(async () => (await list()).length >= 2);
    const names = await list();
    assert.equal(names.length, 2);
    assert.match(names[0]!, /\.eml$/);
    assert.match(names[1]!, /\.html$/);
    const parsed = await simpleParser(await Deno.readTextFile(join(dir, names[0]!)));
    assert.equal(parsed.subject, "Tusk - Test email");
    assert.match(
      await Deno.readTextFile(join(dir, names[1]!)),
      /Test email for: file@example\.com/,
    );
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    for (const name of names) {
      assert.equal((await Deno.stat(join(dir, name))).mode! & 0o777, 0o600, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("email off: the endpoints still answer as documented and log that email is disabled", async () => {
  await using db = await migratedDatabase();
  const { app, logs } = await testApp(db, {
    env: { ENVIRONMENT: "staging", SECRET_KEY: "s".repeat(40), EMAIL_TRANSPORT: "" },
    work: true,
  });
  const { email } = await makeUser(db.sql);
  const res = await app.request(`/api/v1/password-recovery/${email}`, { method: "POST" });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  await waitFor(() =>
    logs.some((l) => typeof l.msg === "string" && l.msg.startsWith("email is disabled"))
  );
  // The test email would go nowhere: saying "sent" would be a lie.
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const test = await app.request("/api/v1/utils/test-email/?email_to=a@example.com", {
    method: "POST",
    headers: adminH,
  });
  assert.equal(test.status, 503);
  assert.match((await test.json()).detail, /^Email is off on this server \(EMAIL_TRANSPORT=off\)/);
  const [queued] = await db
    .sql`select count(*)::int as n from pgboss.job where name = 'send-email'`;
  assert.equal(queued!.n, 0);
  // The recovery email was skipped, and the log says so.
  const log = await emailLog(app, adminH, `?to=${email}`);
  assert.equal(log.count, 1);
  assert.equal(log.data[0]!.status, "skipped");
  assert.equal(log.data[0]!.transport, "off");
  assert.equal(log.data[0]!.template, "reset_password");
  assert.equal(log.data[0]!.message_id, null);
  // So is a new account's welcome: the log answers "what did we send them" with "nothing".
  const created = await app.request(
    "/api/v1/users/",
    jsonBody("POST", { email: "new@example.com", password: "initial secret 42" }, adminH),
  );
  assert.equal(created.status, 200);
  const id = (await created.json()).id;
  await waitFor(async () => (await emailLog(app, adminH, `?user_id=${id}`)).count === 1);
  const [row] = (await emailLog(app, adminH, `?user_id=${id}`)).data;
  assert.deepEqual([row!.template, row!.status, row!.to], [
    "new_account",
    "skipped",
    "new@example.com",
  ]);
});

Deno.test("SMTP config without a sender is a configuration error", async () => {
  const { ConfigError, loadConfig } = await import("../../config.ts");
  assert.throws(
    () => loadConfig({ SECRET_KEY: "x", SMTP_HOST: "mail.example.com" }),
    (e: Error) => e instanceof ConfigError && /EMAILS_FROM_EMAIL: required/.test(e.message),
  );
});
