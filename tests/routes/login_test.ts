import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { signAccessToken } from "../../lib/jwt.ts";
import { TEST_SECRET, testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, jsonBody, login, makeUser } from "../_factories.ts";

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };

function loginRequest(
  username: string,
  password: string,
  extra: Record<string, string> = {},
): RequestInit {
  return {
    method: "POST",
    headers: FORM,
    body: new URLSearchParams({ username, password, ...extra }),
  };
}

function b64url(value: unknown): string {
  return btoa(typeof value === "string" ? value : JSON.stringify(value)).replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

Deno.test("login returns a bearer token that test-token accepts", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const { email, password, user } = await makeUser(db.sql);
  const res = await app.request(
    "/api/v1/login/access-token",
    loginRequest(email.toUpperCase(), password, {
      grant_type: "password",
      scope: "",
      client_id: "x",
    }),
  );
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.token_type, "bearer");
  const me = await app.request("/api/v1/login/test-token", {
    method: "POST",
    headers: bearer(body.access_token),
  });
  assert.equal(me.status, 200);
  const shown = await me.json();
  assert.deepEqual(Object.keys(shown).sort(), [
    "created_at",
    "email",
    "full_name",
    "id",
    "is_active",
    "is_superuser",
  ]);
  assert.equal(shown.id, user.id);
  assert.match(shown.created_at, /^\d{4}-\d\d-\d\dT.*Z$/);
});

Deno.test("login answers the same 400 for a wrong password and an unknown email", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const { email } = await makeUser(db.sql);
  const wrong = await app.request(
    "/api/v1/login/access-token",
    loginRequest(email, "wrong password"),
  );
  const unknown = await app.request(
    "/api/v1/login/access-token",
    loginRequest("nobody@example.com", "whatever1"),
  );
  assert.equal(wrong.status, 400);
  assert.equal(unknown.status, 400);
  assert.deepEqual(await wrong.json(), { detail: "Incorrect email or password" });
  assert.deepEqual(await unknown.json(), { detail: "Incorrect email or password" });
});

Deno.test("login refuses an inactive user and validates the form", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const { email, password } = await makeUser(db.sql, { active: false });
  const res = await app.request("/api/v1/login/access-token", loginRequest(email, password));
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { detail: "Inactive user" });
  const missing = await app.request("/api/v1/login/access-token", {
    method: "POST",
    headers: FORM,
    body: "password=x",
  });
  assert.equal(missing.status, 422);
  assert.deepEqual((await missing.json()).detail[0].loc, ["body", "username"]);
});

Deno.test("forged, expired, malformed and foreign tokens are all 403; no token is 401", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const { user } = await makeUser(db.sql);
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: user.id, exp: now + 600, iat: now, type: "access", ver: 0 };
  const good = await signAccessToken(TEST_SECRET, { sub: user.id, ver: 0 }, 10);
  const [, payload, signature] = good.split(".");
  const expired = await signAccessToken(TEST_SECRET, { sub: user.id, ver: 0 }, -1);
  const forged: Record<string, string> = {
    "alg none": `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`,
    "alg HS512": `${b64url({ alg: "HS512", typ: "JWT" })}.${payload}.${signature}`,
    "alg RS256": `${b64url({ alg: "RS256", typ: "JWT" })}.${payload}.${signature}`,
    "bad signature": `${good.slice(0, -4)}AAAA`,
    "other secret": await signAccessToken("another-secret-that-is-also-long-enough!!", {
      sub: user.id,
      ver: 0,
    }, 10),
    "tampered claims": `${good.split(".")[0]}.${
      b64url({ ...claims, sub: crypto.randomUUID() })
    }.${signature}`,
    "expired": expired,
    "malformed": "not-a-jwt",
    "two parts": `${good.split(".")[0]}.${payload}`,
    "empty": "",
    "garbage base64": "@@@.###.$$$",
  };
  for (const [label, token] of Object.entries(forged)) {
    const res = await app.request("/api/v1/users/me", {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 403, label);
    assert.deepEqual(await res.json(), { detail: "Could not validate credentials" }, label);
  }
  for (
    const headers of [{}, { Authorization: "" }, {
      Authorization: `Basic ${btoa("a:b")}`,
    }] as Record<string, string>[]
  ) {
    const res = await app.request("/api/v1/users/me", { headers });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("WWW-Authenticate"), "Bearer");
    assert.deepEqual(await res.json(), { detail: "Not authenticated" });
  }
  const ok = await app.request("/api/v1/users/me", { headers: bearer(good) });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("a token of a deleted user is 404, of a user deactivated in SQL 400", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const a = await makeUser(db.sql);
  const b = await makeUser(db.sql);
  const tokenA = await login(app, a.email, a.password);
  const tokenB = await login(app, b.email, b.password);
  await db.sql`delete from users where id = ${a.user.id}`;
  const gone = await app.request("/api/v1/users/me", { headers: bearer(tokenA) });
  assert.equal(gone.status, 404);
  assert.deepEqual(await gone.json(), { detail: "User not found" });
  await db.sql`update users set is_active = false where id = ${b.user.id}`;
  const inactive = await app.request("/api/v1/users/me", { headers: bearer(tokenB) });
  assert.equal(inactive.status, 400);
  assert.deepEqual(await inactive.json(), { detail: "Inactive user" });
});

Deno.test("password change, reset, deactivation, deletion and demotion revoke old tokens", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const admin = await makeUser(db.sql, { superuser: true });
  const adminToken = await login(app, admin.email, admin.password);
  const status = async (token: string) => {
    const res = await app.request("/api/v1/users/me", { headers: bearer(token) });
    await res.body?.cancel();
    return res.status;
  };

  const changer = await makeUser(db.sql);
  const before = await login(app, changer.email, changer.password);
  const changed = await app.request(
    "/api/v1/users/me/password",
    jsonBody(
      "PATCH",
      { current_password: changer.password, new_password: "a brand new secret" },
      bearer(before),
    ),
  );
  assert.equal(changed.status, 200);
  await changed.body?.cancel();
  assert.equal(await status(before), 403, "password change");
  assert.equal(await status(await login(app, changer.email, "a brand new secret")), 200);

  const reset = await makeUser(db.sql);
  const resetToken = await login(app, reset.email, reset.password);
  const { createResetToken } = await import("../../db/reset_tokens.ts");
  const link = await createResetToken(db.sql, reset.user.id, 1);
  const done = await app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: link, new_password: "reset to this" }),
  );
  assert.equal(done.status, 200);
  await done.body?.cancel();
  assert.equal(await status(resetToken), 403, "password reset");

  for (
    const [label, change] of [["deactivation", { is_active: false }], ["demotion", {
      is_superuser: false,
    }]] as const
  ) {
    const target = await makeUser(db.sql, { superuser: label === "demotion" });
    const token = await login(app, target.email, target.password);
    const res = await app.request(
      `/api/v1/users/${target.user.id}`,
      jsonBody("PATCH", change, bearer(adminToken)),
    );
    assert.equal(res.status, 200, label);
    await res.body?.cancel();
    assert.equal(await status(token), 403, label);
  }

  const deleted = await makeUser(db.sql);
  const deletedToken = await login(app, deleted.email, deleted.password);
  const del = await app.request(`/api/v1/users/${deleted.user.id}`, {
    method: "DELETE",
    headers: bearer(adminToken),
  });
  assert.equal(del.status, 200);
  await del.body?.cancel();
  assert.equal(await status(deletedToken), 404, "deletion");

  // A name change revokes nothing.
  const renamed = await app.request(
    "/api/v1/users/me",
    jsonBody("PATCH", { full_name: "Admin" }, bearer(adminToken)),
  );
  assert.equal(renamed.status, 200);
  await renamed.body?.cancel();
  assert.equal(await status(adminToken), 200);
});

Deno.test("bcrypt hashes from other stacks verify and are upgraded to argon2id on login", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const plain = "imported from django";
  for (const prefix of ["$2b$", "$2a$", "$2y$"]) {
    const hash = bcrypt.hashSync(plain, 4).replace(/^\$2b\$/, prefix);
    const email = `bcrypt${prefix.replace(/\$/g, "")}@example.com`;
    await db.sql`insert into users (email, hashed_password) values (${email}, ${hash})`;
    const wrong = await app.request(
      "/api/v1/login/access-token",
      loginRequest(email, "not the password"),
    );
    assert.equal(wrong.status, 400, prefix);
    await wrong.body?.cancel();
    await login(app, email, plain);
    const [row] = await db.sql`select hashed_password from users where email = ${email}`;
    assert.match(row!.hashed_password, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, prefix);
    await login(app, email, plain);
  }
});

Deno.test("bcrypt's 72-byte truncation cannot be used to log in with a different password", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const long = "x".repeat(72) + "tail-one";
  await db.sql`insert into users (email, hashed_password) values ('long@example.com', ${
    bcrypt.hashSync(long, 4)
  })`;
  const res = await app.request(
    "/api/v1/login/access-token",
    loginRequest("long@example.com", "x".repeat(72) + "other"),
  );
  assert.equal(res.status, 400);
  await res.body?.cancel();
});

Deno.test("login takes as long for an unknown email as for a wrong password (medians within 25%)", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const { email } = await makeUser(db.sql);
  const known: number[] = [];
  const unknown: number[] = [];
  const time = async (username: string) => {
    await db.sql`delete from rate_limits`;
    const started = performance.now();
    const res = await app.request(
      "/api/v1/login/access-token",
      loginRequest(username, "wrong password"),
    );
    const elapsed = performance.now() - started;
    assert.equal(res.status, 400);
    await res.body?.cancel();
    return elapsed;
  };
  // Warm both paths: the first unknown-email login also creates the dummy hash.
  await time(email);
  await time("warm-up@example.com");
  // Alternate the order (known first, then unknown first) so drift and pauses hit both sides alike;
  // a few milliseconds per login need many samples on a shared machine.
  for (let i = 0; i < 40; i++) {
    const pair = [() => time(email), () => time(`nobody${i}@example.com`)];
    if (i % 2 === 1) pair.reverse();
    const [first, second] = [await pair[0]!(), await pair[1]!()];
    known.push(i % 2 === 1 ? second : first);
    unknown.push(i % 2 === 1 ? first : second);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [k, u] = [median(known), median(unknown)];
  assert.ok(
    Math.abs(k - u) / Math.max(k, u) < 0.25,
    `known ${k.toFixed(1)} ms vs unknown ${u.toFixed(1)} ms`,
  );
});
