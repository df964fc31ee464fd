import assert from "node:assert/strict";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";

async function setup(env: Record<string, string> = {}) {
  const db = await migratedDatabase();
  const { app } = await testApp(db, { env, flags: { FF_ENABLE_REGISTRATION: true } });
  const admin = await makeUser(db.sql, { superuser: true });
  const normal = await makeUser(db.sql);
  const adminToken = await login(app, admin.email, admin.password);
  const userToken = await login(app, normal.email, normal.password);
  return { db, app, admin, normal, adminH: bearer(adminToken), userH: bearer(userToken) };
}

Deno.test("GET /users/ lists users newest first for superusers only, with count and paging", async () => {
  const { db, app, adminH, userH } = await setup();
  await using _ = db;
  for (let i = 0; i < 3; i++) await makeUser(db.sql);
  const all = await call(app, "/api/v1/users/", { headers: adminH });
  assert.equal(all.status, 200);
  assert.equal(all.body.count, 5);
  const created = all.body.data.map((u: { created_at: string }) => u.created_at);
  assert.deepEqual(created, [...created].sort().reverse());
  assert.ok(all.body.data.every((u: Record<string, unknown>) => !("hashed_password" in u)));
  const page = await call(app, "/api/v1/users/?skip=1&limit=2", { headers: adminH });
  assert.equal(page.body.data.length, 2);
  assert.equal(page.body.count, 5);
  assert.equal(page.body.data[0].id, all.body.data[1].id);
  assert.equal((await call(app, "/api/v1/users/?limit=1001", { headers: adminH })).status, 422);
  assert.equal((await call(app, "/api/v1/users/?skip=-1", { headers: adminH })).status, 422);
  const denied = await call(app, "/api/v1/users/", { headers: userH });
  assert.deepEqual(denied, {
    status: 403,
    body: { detail: "The user doesn't have enough privileges" },
  });
});

Deno.test("POST /users/ creates users for superusers; a duplicate email (any case) is 400", async () => {
  const { db, app, adminH, userH, normal } = await setup();
  await using _ = db;
  const created = await call(
    app,
    "/api/v1/users/",
    jsonBody("POST", {
      email: "new@example.com",
      password: "password123",
      full_name: "New Person",
      is_superuser: true,
    }, adminH),
  );
  assert.equal(created.status, 200);
  assert.equal(created.body.is_superuser, true);
  assert.equal(created.body.is_active, true);
  const duplicate = await call(
    app,
    "/api/v1/users/",
    jsonBody("POST", {
      email: normal.email.toUpperCase(),
      password: "password123",
    }, adminH),
  );
  assert.deepEqual(duplicate, {
    status: 400,
    body: { detail: "The user with this email already exists in the system." },
  });
  const denied = await call(
    app,
    "/api/v1/users/",
    jsonBody("POST", { email: "x@example.com", password: "password123" }, userH),
  );
  assert.equal(denied.status, 403);
  const bad = await call(
    app,
    "/api/v1/users/",
    jsonBody("POST", { email: "not-an-email", password: "short" }, adminH),
  );
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail.map((d: { loc: string[] }) => d.loc), [["body", "email"], [
    "body",
    "password",
  ]]);
});

Deno.test("GET/PATCH/DELETE /users/me work on the caller", async () => {
  const { db, app, userH, normal, adminH, admin } = await setup();
  await using _ = db;
  const me = await call(app, "/api/v1/users/me", { headers: userH });
  assert.equal(me.body.email, normal.email);
  const renamed = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { full_name: "Renamed", email: "moved@example.com" }, userH),
  );
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.full_name, "Renamed");
  assert.equal(renamed.body.email, "moved@example.com");
  const taken = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { email: admin.email.toUpperCase() }, userH),
  );
  assert.deepEqual(taken, { status: 409, body: { detail: "User with this email already exists" } });
  const superSelf = await call(app, "/api/v1/users/me", { method: "DELETE", headers: adminH });
  assert.deepEqual(superSelf, {
    status: 403,
    body: { detail: "Super users are not allowed to delete themselves" },
  });
  const gone = await call(app, "/api/v1/users/me", { method: "DELETE", headers: userH });
  assert.deepEqual(gone, { status: 200, body: { message: "User deleted successfully" } });
  const [row] = await db.sql`select count(*)::int as n from users where id = ${normal.user.id}`;
  assert.equal(row!.n, 0);
});

Deno.test("PATCH /users/me/password checks the current password and refuses the same one", async () => {
  const { db, app, userH, normal } = await setup();
  await using _ = db;
  const wrong = await call(
    app,
    "/api/v1/users/me/password",
    jsonBody("PATCH", {
      current_password: "not my password",
      new_password: "whatever123",
    }, userH),
  );
  assert.deepEqual(wrong, { status: 400, body: { detail: "Incorrect password" } });
  const same = await call(
    app,
    "/api/v1/users/me/password",
    jsonBody("PATCH", {
      current_password: normal.password,
      new_password: normal.password,
    }, userH),
  );
  assert.deepEqual(same, {
    status: 400,
    body: { detail: "New password cannot be the same as the current one" },
  });
  const ok = await call(
    app,
    "/api/v1/users/me/password",
    jsonBody("PATCH", {
      current_password: normal.password,
      new_password: "ünïcødé pässwörd ✓",
    }, userH),
  );
  assert.deepEqual(ok, { status: 200, body: { message: "Password updated successfully" } });
  await login(app, normal.email, "ünïcødé pässwörd ✓");
});

Deno.test("POST /users/signup registers a plain user and ignores privileged fields", async () => {
  const { db, app, normal } = await setup();
  await using _ = db;
  const res = await call(
    app,
    "/api/v1/users/signup",
    jsonBody("POST", {
      email: "joiner@example.com",
      password: "password123",
      full_name: "Joiner",
      is_superuser: true,
      is_active: false,
      id: "00000000-0000-4000-8000-000000000000",
      created_at: "2000-01-01T00:00:00Z",
    }),
  );
  assert.equal(res.status, 200);
  assert.equal(res.body.is_superuser, false);
  assert.equal(res.body.is_active, true);
  assert.notEqual(res.body.id, "00000000-0000-4000-8000-000000000000");
  assert.notEqual(res.body.created_at.slice(0, 4), "2000");
  const dup = await call(
    app,
    "/api/v1/users/signup",
    jsonBody("POST", { email: normal.email, password: "password123" }),
  );
  assert.deepEqual(dup, {
    status: 400,
    body: { detail: "The user with this email already exists in the system" },
  });
});

Deno.test("two concurrent signups with one email: exactly one succeeds", async () => {
  const { db, app } = await setup();
  await using _ = db;
  const results = await Promise.all(
    ["race@example.com", "RACE@example.com"].map((email) =>
      call(app, "/api/v1/users/signup", jsonBody("POST", { email, password: "password123" }))
    ),
  );
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 400]);
  assert.equal(
    results.find((r) => r.status === 400)!.body.detail,
    "The user with this email already exists in the system",
  );
});

Deno.test("GET /users/{id}: yourself, or anyone as superuser", async () => {
  const { db, app, userH, adminH, normal, admin } = await setup();
  await using _ = db;
  assert.equal(
    (await call(app, `/api/v1/users/${normal.user.id}`, { headers: userH })).status,
    200,
  );
  const other = await call(app, `/api/v1/users/${admin.user.id}`, { headers: userH });
  assert.deepEqual(other, {
    status: 403,
    body: { detail: "The user doesn't have enough privileges" },
  });
  assert.equal(
    (await call(app, `/api/v1/users/${normal.user.id}`, { headers: adminH })).body.email,
    normal.email,
  );
  const missing = await call(app, `/api/v1/users/${crypto.randomUUID()}`, { headers: adminH });
  assert.deepEqual(missing, { status: 404, body: { detail: "User not found" } });
  const bad = await call(app, "/api/v1/users/not-a-uuid", { headers: adminH });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ["path", "user_id"]);
});

Deno.test("PATCH and DELETE /users/{id} for superusers, with the documented errors", async () => {
  const { db, app, userH, adminH, normal, admin } = await setup();
  await using _ = db;
  const updated = await call(
    app,
    `/api/v1/users/${normal.user.id}`,
    jsonBody("PATCH", {
      full_name: "Changed",
      password: "set by admin",
    }, adminH),
  );
  assert.equal(updated.status, 200);
  assert.equal(updated.body.full_name, "Changed");
  await login(app, normal.email, "set by admin");
  const missing = await call(
    app,
    `/api/v1/users/${crypto.randomUUID()}`,
    jsonBody("PATCH", { full_name: "x" }, adminH),
  );
  assert.deepEqual(missing, {
    status: 404,
    body: { detail: "The user with this id does not exist in the system" },
  });
  const taken = await call(
    app,
    `/api/v1/users/${normal.user.id}`,
    jsonBody("PATCH", { email: admin.email }, adminH),
  );
  assert.deepEqual(taken, { status: 409, body: { detail: "User with this email already exists" } });
  assert.equal(
    (await call(
      app,
      `/api/v1/users/${admin.user.id}`,
      jsonBody("PATCH", { full_name: "x" }, userH),
    )).status,
    403,
  );

  await db.sql`insert into items (title, owner_id) values ('theirs', ${normal.user.id})`;
  const self = await call(app, `/api/v1/users/${admin.user.id}`, {
    method: "DELETE",
    headers: adminH,
  });
  assert.deepEqual(self, {
    status: 403,
    body: { detail: "Super users are not allowed to delete themselves" },
  });
  const deleted = await call(app, `/api/v1/users/${normal.user.id}`, {
    method: "DELETE",
    headers: adminH,
  });
  assert.deepEqual(deleted, { status: 200, body: { message: "User deleted successfully" } });
  const [items] = await db
    .sql`select count(*)::int as n from items where owner_id = ${normal.user.id}`;
  assert.equal(items!.n, 0, "their items go too");
  const again = await call(app, `/api/v1/users/${normal.user.id}`, {
    method: "DELETE",
    headers: adminH,
  });
  assert.deepEqual(again, { status: 404, body: { detail: "User not found" } });
});

Deno.test("the last active superuser cannot be demoted, deactivated or deleted", async () => {
  const { db, app, adminH, admin } = await setup();
  await using _ = db;
  for (const change of [{ is_superuser: false }, { is_active: false }]) {
    const res = await call(
      app,
      `/api/v1/users/${admin.user.id}`,
      jsonBody("PATCH", change, adminH),
    );
    assert.equal(res.status, 403, JSON.stringify(change));
    assert.match(res.body.detail, /last active superuser/);
  }
  // With a second superuser, each may be demoted; never both at once.
  const second = await makeUser(db.sql, { superuser: true });
  const secondH = bearer(await login(app, second.email, second.password));
  const [a, b] = await Promise.all([
    call(
      app,
      `/api/v1/users/${second.user.id}`,
      jsonBody("PATCH", { is_superuser: false }, adminH),
    ),
    call(
      app,
      `/api/v1/users/${admin.user.id}`,
      jsonBody("PATCH", { is_superuser: false }, secondH),
    ),
  ]);
  const statuses = [a.status, b.status].sort();
  assert.ok(statuses[0] === 200 && statuses[1] !== 200, `got ${statuses}`);
  const [row] = await db.sql`select count(*)::int as n from users where is_superuser and is_active`;
  assert.equal(row!.n, 1);
});

Deno.test("POST /private/users/ exists only in local", async () => {
  const local = await setup();
  await using _ = local.db;
  const created = await call(
    local.app,
    "/api/v1/private/users/",
    jsonBody("POST", {
      email: "private@example.com",
      password: "password123",
      full_name: "Private",
      is_verified: true,
    }),
  );
  assert.equal(created.status, 200);
  assert.equal(created.body.email, "private@example.com");
  const { app } = await testApp(local.db, {
    env: { ENVIRONMENT: "staging", SECRET_KEY: "s".repeat(40) },
  });
  const hidden = await call(
    app,
    "/api/v1/private/users/",
    jsonBody("POST", {
      email: "p2@example.com",
      password: "password123",
      full_name: "P",
    }),
  );
  assert.equal(hidden.status, 404);
});
