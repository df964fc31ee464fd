import assert from "node:assert/strict";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, jsonBody, login, makeUser } from "../_factories.ts";
import { passwordWork } from "../../lib/password.ts";

type App = Awaited<ReturnType<typeof testApp>>["app"];

async function loginStatus(app: App, username: string, password: string, from: string) {
  const res = await app.request("/api/v1/login/access-token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  }, { remoteAddr: { hostname: from } });
  await res.body?.cancel();
  return res.status;
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

Deno.test("a concurrent burst of wrong passwords: at most the account's limit reaches the password check", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const victim = await makeUser(db.sql);
  const before = passwordWork.started;
  // 15 at once from 15 addresses, against a limit of 5 per account.
  const statuses = await Promise.all(
    Array.from({ length: 15 }, (_, i) => loginStatus(app, victim.email, "wrong", `10.9.0.${i}`)),
  );
  assert.deepEqual(tally(statuses), { 400: 5, 429: 10 });
  assert.equal(passwordWork.started - before, 5, "argon2 ran for the 5 that were let through");
  // The account stays locked for its owner too, until the window passes.
  assert.equal(await loginStatus(app, victim.email, victim.password, "10.9.1.1"), 429);
});

Deno.test("a concurrent burst from one address: at most the client's limit reaches the password check", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const statuses = await Promise.all(
    Array.from(
      { length: 40 },
      (_, i) => loginStatus(app, `guess${i}@example.com`, "wrong", "10.8.8.8"),
    ),
  );
  assert.deepEqual(tally(statuses), { 400: 20, 429: 20 });
  // Refusals for the client's sake never counted against the accounts tried.
  const [row] = await db.sql`select max(hits)::int as hits from rate_limits
    where key like 'login:account:%'`;
  assert.equal(row!.hits, 1);
});

Deno.test("successful logins do not use up the client's allowance", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db, { env: { LOGIN_LIMIT_PER_CLIENT: "3" } });
  const users = await Promise.all(Array.from({ length: 5 }, () => makeUser(db.sql)));
  // An office behind one address: more people log in than the failure limit allows.
  for (const u of users) assert.equal(await loginStatus(app, u.email, u.password, "10.6.0.1"), 200);
  assert.equal(await loginStatus(app, users[0]!.email, "wrong", "10.6.0.1"), 400);
});

Deno.test("POST /reset-password/ with bad tokens: no password is hashed, and the client is throttled", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const before = passwordWork.started;
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++) {
    const res = await app.request(
      "/api/v1/reset-password/",
      jsonBody("POST", { token: `bogus-${i}`, new_password: "a brand new password" }),
      { remoteAddr: { hostname: "10.5.5.5" } },
    );
    const body = await res.json();
    statuses.push(res.status);
    if (res.status === 400) assert.equal(body.detail, "Invalid token");
    if (res.status === 429) assert.ok(Number(res.headers.get("Retry-After")) > 0);
  }
  assert.deepEqual(tally(statuses), { 400: 20, 429: 5 });
  assert.equal(passwordWork.started, before, "not one argon2 hash for a bad token");
  // Another address is not affected.
  const other = await app.request(
    "/api/v1/reset-password/",
    jsonBody("POST", { token: "bogus", new_password: "a brand new password" }),
    { remoteAddr: { hostname: "10.5.5.6" } },
  );
  assert.equal(other.status, 400);
});

Deno.test("a wrong current password counts as a failed login of the account", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db, { env: { LOGIN_LIMIT_PER_ACCOUNT: "3" } });
  const user = await makeUser(db.sql);
  const auth = bearer(await login(app, user.email, user.password));
  const change = (current: string) =>
    app.request(
      "/api/v1/users/me/password",
      jsonBody("PATCH", { current_password: current, new_password: "another password" }, auth),
    );
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await change("not my password")).status);
  // A stolen token cannot be used to guess the password behind it.
  assert.deepEqual(statuses, [400, 400, 400, 429]);
  assert.equal((await change(user.password)).status, 429, "locked for its window");
  await db.sql`update rate_limits set window_start = now() - interval '301 seconds'`;
  assert.equal((await change(user.password)).status, 200);
});
