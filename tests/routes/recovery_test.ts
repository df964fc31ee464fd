import assert from "node:assert/strict";
import { join } from "node:path";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, jsonBody, login, makeUser } from "../_factories.ts";

/** An app whose emails land as files in a temp folder, sent by an in-process worker. */
async function appWithMailbox(env: Record<string, string> = {}) {
  const db = await migratedDatabase();
  const dir = await Deno.makeTempDir({ prefix: "tusk-mail-" });
  const { app } = await testApp(db, {
    env: { EMAIL_TRANSPORT: "file", EMAILS_DIR: dir, ...env },
    work: true,
  });
  async function read(): Promise<string[]> {
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) =>
      n.endsWith(".eml")
    );
    return await Promise.all(names.sort().map((n) => Deno.readTextFile(join(dir, n))));
  }
  return {
    app,
    db,
    /** The `.eml` files written so far, oldest first, once at least `count` have arrived. */
    async messages(count = 0): Promise<string[]> {
      for (let i = 0; i < 200; i++) {
        const found = await read();
        if (found.length >= count) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`expected ${count} emails, got ${(await read()).length}`);
    },
    async [Symbol.asyncDispose]() {
      await db[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The reset token in a recovery email's plain-text part. */
function tokenFrom(eml: string): string {
  const unfolded = eml.replace(/=\r?\n/g, "").replace(/=3D/g, "=");
  const match = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(unfolded);
  assert.ok(match, "no reset link in the email");
  return match[1]!;
}

async function recover(
  app: Awaited<ReturnType<typeof appWithMailbox>>["app"],
  email: string,
  from = "10.0.0.1",
) {
  return await app.request(`/api/v1/password-recovery/${encodeURIComponent(email)}`, {
    method: "POST",
  }, {
    remoteAddr: { hostname: from },
  });
}

Deno.test("password recovery answers the same for known and unknown emails, and mails only the known", async () => {
  await using box = await appWithMailbox();
  const { email } = await makeUser(box.db.sql);
  for (const address of [email, "stranger@example.com"]) {
    const res = await recover(box.app, address);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      message: "If that email is registered, we sent a password recovery link",
    });
  }
  const sent = await box.messages(1);
  await new Promise((r) => setTimeout(r, 300)); // the unknown email must not produce a late second one
  assert.equal((await box.messages()).length, 1);
  assert.match(
    sent[0]!,
    new RegExp(`Subject: Tusk - Password recovery for user ${email.replace(".", "\\.")}`),
  );
  assert.match(
    sent[0]!.replace(/=\r?\n/g, ""),
    /http:\/\/localhost:5173\/reset-password\?token=3D/,
  );
});

Deno.test("a reset token works once, and a reused, expired or forged one is 400 Invalid token", async () => {
  await using box = await appWithMailbox();
  const { email, user } = await makeUser(box.db.sql);
  await recover(box.app, email);
  const token = tokenFrom((await box.messages(1))[0]!);
  assert.ok(token.length >= 22, "at least 128 bits");
  const [stored] = await box.db
    .sql`select token_hash from password_reset_tokens where user_id = ${user.id}`;
  assert.notEqual(Buffer.from(stored!.token_hash).toString(), token, "only a hash is stored");

  const first = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token, new_password: "new password 1" }),
  );
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), { message: "Password updated successfully" });
  await login(box.app, email, "new password 1");

  const again = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token, new_password: "new password 2" }),
  );
  assert.equal(again.status, 400);
  assert.deepEqual(await again.json(), { detail: "Invalid token" });

  await recover(box.app, email);
  const expiring = tokenFrom((await box.messages(2))[1]!);
  await box.db
    .sql`update password_reset_tokens set expires_at = now() - interval '1 second' where used_at is null`;
  const expired = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: expiring, new_password: "new password 3" }),
  );
  assert.equal(expired.status, 400);
  await expired.body?.cancel();

  const accessToken = await login(box.app, email, "new password 1");
  const asReset = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: accessToken, new_password: "new password 4" }),
  );
  assert.equal(asReset.status, 400, "an access token is not a reset token");
  await asReset.body?.cancel();
});

Deno.test("a reset link is never stored in clear; a newer request replaces the older link", async () => {
  await using box = await appWithMailbox();
  const { email, user } = await makeUser(box.db.sql);
  await recover(box.app, email, "10.0.3.1");
  const older = tokenFrom((await box.messages(1))[0]!);
  await recover(box.app, email, "10.0.3.2");
  const newer = tokenFrom((await box.messages(2))[1]!);
  assert.notEqual(older, newer);
  // Every job row pg-boss keeps (live or archived), and every queue: only the user id.
  const stored = JSON.stringify(await box.db.sql`select name, data, output from pgboss.job`);
  assert.match(stored, new RegExp(user.id), "the recovery jobs ran from the user id");
  for (const secret of [older, newer, "reset-password?token"]) {
    assert.ok(!stored.includes(secret), `${secret} is stored in the job queue`);
  }
  const [live] = await box.db.sql`select count(*)::int as n from password_reset_tokens
    where user_id = ${user.id} and used_at is null`;
  assert.equal(live!.n, 1, "one live link per user");
  const stale = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: older, new_password: "older link pw" }),
  );
  assert.deepEqual(await stale.json(), { detail: "Invalid token" });
  const fresh = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: newer, new_password: "newer link pw" }),
  );
  assert.equal(fresh.status, 200);
  await fresh.body?.cancel();
});

Deno.test("a reset token is no access token", async () => {
  await using box = await appWithMailbox();
  const { email } = await makeUser(box.db.sql);
  await recover(box.app, email);
  const token = tokenFrom((await box.messages(1))[0]!);
  const res = await box.app.request("/api/v1/users/me", { headers: bearer(token) });
  assert.equal(res.status, 403);
  await res.body?.cancel();
});

Deno.test("two concurrent uses of one reset token: exactly one succeeds", async () => {
  await using box = await appWithMailbox();
  const { email } = await makeUser(box.db.sql);
  await recover(box.app, email);
  const token = tokenFrom((await box.messages(1))[0]!);
  const results = await Promise.all(
    ["first racer pw", "second racer pw"].map(async (new_password) => {
      const res = await box.app.request(
        "/api/v1/reset-password/",
        jsonBody("POST", { token, new_password }),
      );
      await res.body?.cancel();
      return res.status;
    }),
  );
  assert.deepEqual(results.sort(), [200, 400]);
});

Deno.test("a password change invalidates outstanding reset tokens; an inactive user cannot reset", async () => {
  await using box = await appWithMailbox();
  const u = await makeUser(box.db.sql);
  await recover(box.app, u.email);
  const token = tokenFrom((await box.messages(1))[0]!);
  const access = await login(box.app, u.email, u.password);
  const changed = await box.app.request(
    "/api/v1/users/me/password",
    jsonBody(
      "PATCH",
      { current_password: u.password, new_password: "changed meanwhile" },
      bearer(access),
    ),
  );
  assert.equal(changed.status, 200);
  await changed.body?.cancel();
  const stale = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token, new_password: "too late pw" }),
  );
  assert.equal(stale.status, 400);
  await stale.body?.cancel();

  const inactive = await makeUser(box.db.sql);
  await recover(box.app, inactive.email);
  const inactiveToken = tokenFrom((await box.messages(2))[1]!);
  await box.db.sql`update users set is_active = false where id = ${inactive.user.id}`;
  const res = await box.app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: inactiveToken, new_password: "whatever pw" }),
  );
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { detail: "Inactive user" });
});

Deno.test("recovery requests are throttled per email and per client with Retry-After", async () => {
  await using box = await appWithMailbox();
  const { email } = await makeUser(box.db.sql);
  for (let i = 0; i < 3; i++) {
    const ok = await recover(box.app, email, `10.0.1.${i}`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  }
  const limited = await recover(box.app, email, "10.0.1.99");
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("Retry-After")) > 0);
  assert.match((await limited.json()).detail, /Too many recovery requests/);
  await box.messages(3);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await box.messages()).length, 3, "no email for the throttled request");

  for (let i = 0; i < 10; i++) {
    (await recover(box.app, `someone${i}@example.com`, "10.9.9.9")).body?.cancel();
  }
  const fromClient = await recover(box.app, "fresh@example.com", "10.9.9.9");
  assert.equal(fromClient.status, 429);
  await fromClient.body?.cancel();
});

Deno.test("RECOVERY_EMAIL_LIMIT_PER_HOUR and RECOVERY_LIMIT_PER_HOUR set the recovery limits", async () => {
  await using box = await appWithMailbox({
    RECOVERY_EMAIL_LIMIT_PER_HOUR: "5",
    RECOVERY_LIMIT_PER_HOUR: "12",
  });
  const { email } = await makeUser(box.db.sql);
  const statuses = [];
  for (let i = 0; i < 6; i++) {
    const res = await recover(box.app, email, `10.0.2.${i}`);
    statuses.push(res.status);
    await res.body?.cancel();
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429], "5 per email, not the default 3");
  const perClient = [];
  for (let i = 0; i < 13; i++) {
    const res = await recover(box.app, `other${i}@example.com`, "10.9.9.8");
    perClient.push(res.status);
    await res.body?.cancel();
  }
  assert.equal(perClient.indexOf(429), 12, "12 per client, not the default 10");
});

Deno.test("the recovery HTML preview is for superusers and names unknown users", async () => {
  await using box = await appWithMailbox();
  const admin = await makeUser(box.db.sql, { superuser: true });
  const normal = await makeUser(box.db.sql);
  const adminToken = await login(box.app, admin.email, admin.password);
  const preview = await box.app.request(`/api/v1/password-recovery-html-content/${normal.email}`, {
    method: "POST",
    headers: bearer(adminToken),
  });
  assert.equal(preview.status, 200);
  assert.match(preview.headers.get("Content-Type")!, /text\/html/);
  assert.match(await preview.text(), /reset-password\?token=/);
  const missing = await box.app.request(
    "/api/v1/password-recovery-html-content/ghost@example.com",
    {
      method: "POST",
      headers: bearer(adminToken),
    },
  );
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    detail: "The user with this username does not exist in the system.",
  });
  const forbidden = await box.app.request(
    `/api/v1/password-recovery-html-content/${normal.email}`,
    {
      method: "POST",
      headers: bearer(await login(box.app, normal.email, normal.password)),
    },
  );
  assert.equal(forbidden.status, 403);
  await forbidden.body?.cancel();
});

Deno.test("failed logins are throttled per account and per client, reset by success, and expire", async () => {
  await using box = await appWithMailbox();
  const victim = await makeUser(box.db.sql);
  const attempt = async (username: string, password: string, from: string) => {
    const res = await box.app.request("/api/v1/login/access-token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username, password }),
    }, { remoteAddr: { hostname: from } });
    return res;
  };
  // A success in between clears the account's count.
  for (let i = 0; i < 4; i++) {
    (await attempt(victim.email, "wrong password", `10.1.0.${i}`)).body?.cancel();
  }
  assert.equal((await attempt(victim.email, victim.password, "10.1.0.50")).status, 200);
  for (let i = 0; i < 5; i++) {
    (await attempt(victim.email, "wrong password", `10.1.1.${i}`)).body?.cancel();
  }
  const locked = await attempt(victim.email, victim.password, "10.1.2.1");
  assert.equal(locked.status, 429, "the right password is refused while the account is throttled");
  const retry = Number(locked.headers.get("Retry-After"));
  assert.ok(retry > 0 && retry <= 300, `Retry-After ${retry}`);
  await locked.body?.cancel();
  // The lock is short: once its window has passed, the owner gets in.
  await box.db.sql`update rate_limits set window_start = now() - interval '301 seconds'`;
  assert.equal((await attempt(victim.email, victim.password, "10.1.2.1")).status, 200);

  // One client trying many accounts.
  for (let i = 0; i < 20; i++) {
    (await attempt(`guess${i}@example.com`, "wrong password", "10.7.7.7")).body?.cancel();
  }
  const other = await makeUser(box.db.sql);
  assert.equal((await attempt(other.email, other.password, "10.7.7.7")).status, 429);
  assert.equal((await attempt(other.email, other.password, "10.7.7.8")).status, 200);
});

Deno.test("LOGIN_LIMIT_PER_ACCOUNT and LOGIN_LIMIT_PER_CLIENT set the login limits", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db, {
    env: { LOGIN_LIMIT_PER_ACCOUNT: "2", LOGIN_LIMIT_PER_CLIENT: "3" },
  });
  const victim = await makeUser(db.sql);
  const attempt = async (username: string, from: string) => {
    const res = await app.request("/api/v1/login/access-token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username, password: "wrong password" }),
    }, { remoteAddr: { hostname: from } });
    await res.body?.cancel();
    return res.status;
  };
  const perAccount = [];
  for (let i = 0; i < 3; i++) perAccount.push(await attempt(victim.email, `10.3.0.${i}`));
  assert.deepEqual(perAccount, [400, 400, 429]);
  const perClient = [];
  for (let i = 0; i < 4; i++) perClient.push(await attempt(`guess${i}@example.com`, "10.3.1.1"));
  assert.deepEqual(perClient, [400, 400, 400, 429]);
});

Deno.test("X-Forwarded-For counts only behind a trusted proxy", async () => {
  await using db = await migratedDatabase();
  const trusted = await testApp(db, { env: { TRUSTED_PROXIES: "127.0.0.1,10.0.0.0/8" } });
  const untrusted = await testApp(db);
  const ipv6 = await testApp(db, { env: { TRUSTED_PROXIES: "fd00::/8" } });
  const attempt = async (app: typeof trusted.app, forwardedFor: string, peer = "127.0.0.1") => {
    const res = await app.request("/api/v1/login/access-token", {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Forwarded-For": forwardedFor,
      },
      body: new URLSearchParams({
        username: `x${crypto.randomUUID()}@example.com`,
        password: "wrong password",
      }),
    }, { remoteAddr: { hostname: peer } });
    await res.body?.cancel();
  };
  await attempt(trusted.app, "203.0.113.9, 10.1.2.3");
  await attempt(untrusted.app, "198.51.100.7");
  await attempt(ipv6.app, "2001:db8::42, fd12::7", "fd00::1");
  const keys =
    (await db.sql`select key from rate_limits where key like 'login:client:%' order by key`).map((
      r,
    ) => r.key);
  assert.deepEqual(keys, [
    "login:client:127.0.0.1",
    "login:client:2001:db8::42",
    "login:client:203.0.113.9",
  ]);
});
