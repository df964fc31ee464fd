import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { TEST_SECRET, testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser, type TestUser } from "../_factories.ts";

/** A real Tusk token for `user` whose login was `minutesAgo` minutes ago. */
async function tokenFrom(user: TestUser, minutesAgo: number): Promise<string> {
  const iat = Math.floor(Date.now() / 1000) - minutesAgo * 60;
  return await new SignJWT({
    sub: user.user.id,
    exp: iat + 8 * 24 * 3600,
    iat,
    type: "access",
    ver: user.user.token_version,
  }).setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(TEST_SECRET));
}

async function setup(env: Record<string, string> = {}) {
  const db = await migratedDatabase();
  const dir = await Deno.makeTempDir({ prefix: "tusk-mail-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  // Email on, no worker: the notices stay queued where the test can read them.
  const { app } = await testApp(db, { env: { EMAIL_TRANSPORT: "file", EMAILS_DIR: dir, ...env } });
  return { db, app, user: await makeUser(db.sql) };
}

async function notices(db: Awaited<ReturnType<typeof setup>>["db"]) {
  const rows = await db.sql<{ data: { to: string; template: string; text: string } }[]>`
    select data from pgboss.job where name = 'send-email' order by created_on`;
  return rows.map((r) => r.data).filter((d) => d.template === "email_changed");
}

Deno.test("PATCH /users/me changes the email right after login, as the template's frontend does", async () => {
  const { db, app, user } = await setup();
  await using _ = db;
  const auth = bearer(await login(app, user.email, user.password));
  const res = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { email: "new@example.com" }, auth),
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.email, "new@example.com");
  const [notice, ...more] = await notices(db);
  assert.equal(more.length, 0);
  assert.equal(notice!.to, user.email, "the old address is told");
  assert.match(notice!.text, /changed to new@example\.com/);
});

Deno.test("an old token cannot change the email without current_password: 403, and nothing changes", async () => {
  const { db, app, user } = await setup();
  await using _ = db;
  const old = bearer(await tokenFrom(user, 16));
  const refused = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { email: "thief@example.com" }, old),
  );
  assert.equal(refused.status, 403);
  assert.equal(
    refused.body.detail,
    "Changing your email needs a recent login: send current_password with the request, " +
      "or log in again and retry within 15 minutes",
  );
  const wrong = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { email: "thief@example.com", current_password: "guess" }, old),
  );
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.detail, "Incorrect password");
  const [row] = await db.sql`select email from users where id = ${user.user.id}`;
  assert.equal(row!.email, user.email);
  assert.deepEqual(await notices(db), []);

  // The name is no sensitive change, and the same email (in any case) is no change.
  const renamed = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { full_name: "Still Me", email: user.email.toUpperCase() }, old),
  );
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.full_name, "Still Me");

  const proven = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { email: "moved@example.com", current_password: user.password }, old),
  );
  assert.equal(proven.status, 200);
  assert.equal(proven.body.email, "moved@example.com");
  assert.equal((await notices(db)).length, 1);
});

Deno.test("SENSITIVE_ACTION_MAX_AGE_MINUTES sets how recent a login must be", async () => {
  const { db, app, user } = await setup({ SENSITIVE_ACTION_MAX_AGE_MINUTES: "60" });
  await using _ = db;
  const change = async (minutesAgo: number, email: string) =>
    (await call(
      app,
      "/api/v1/users/me",
      jsonBody("PATCH", { email }, bearer(await tokenFrom(user, minutesAgo))),
    )).status;
  assert.equal(await change(59, "a@example.com"), 200);
  user.user.email = "a@example.com";
  assert.equal(await change(61, "b@example.com"), 403);
});
