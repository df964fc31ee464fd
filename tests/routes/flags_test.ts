import assert from "node:assert/strict";
import { isEnabled } from "../../services/flag_cache.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - started;
}

async function setup() {
  const db = await migratedDatabase();
  const started = await testApp(db);
  const admin = await makeUser(db.sql, { superuser: true });
  const user = await makeUser(db.sql);
  return {
    db,
    ...started,
    adminH: bearer(await login(started.app, admin.email, admin.password)),
    userH: bearer(await login(started.app, user.email, user.password)),
  };
}

function signup(app: Awaited<ReturnType<typeof setup>>["app"]) {
  return call(
    app,
    "/api/v1/users/signup",
    jsonBody("POST", { email: `${crypto.randomUUID()}@example.com`, password: "password123" }),
  );
}

Deno.test("FF_ENABLE_REGISTRATION ships off, and signup is refused (no user created) until it is on", async () => {
  const { db, app, adminH } = await setup();
  await using _ = db;
  const list = await call(app, "/api/v1/flags/");
  assert.deepEqual(list.body, {
    data: [{ codename: "FF_ENABLE_REGISTRATION", is_active: false, label: "Open registration" }],
    count: 1,
  });
  const [before] = await db.sql`select count(*)::int as n from users`;
  const refused = await signup(app);
  assert.deepEqual(refused, {
    status: 403,
    body: { detail: "Open user registration is forbidden on this server" },
  });
  const [after] = await db.sql`select count(*)::int as n from users`;
  assert.equal(after!.n, before!.n);

  const on = await call(
    app,
    "/api/v1/flags/FF_ENABLE_REGISTRATION",
    jsonBody("PATCH", { is_active: true }, adminH),
  );
  assert.equal(on.status, 200);
  assert.equal(on.body.is_active, true);
  await waitFor(() => isEnabled("FF_ENABLE_REGISTRATION"));
  assert.equal((await signup(app)).status, 200);
});

Deno.test("flag API: create, patch, delete for superusers, with errors", async () => {
  const { db, app, adminH, userH } = await setup();
  await using _ = db;
  const created = await call(
    app,
    "/api/v1/flags/",
    jsonBody("POST", { codename: "FF_BETA", label: "Beta", is_active: true }, adminH),
  );
  assert.equal(created.status, 200);
  assert.equal(created.body.codename, "FF_BETA");
  assert.equal(created.body.is_active, true);
  assert.match(created.body.updated_at, /Z$/);
  const dup = await call(app, "/api/v1/flags/", jsonBody("POST", { codename: "FF_BETA" }, adminH));
  assert.deepEqual(dup, {
    status: 409,
    body: { detail: "A feature flag with this codename already exists" },
  });
  const bad = await call(
    app,
    "/api/v1/flags/",
    jsonBody("POST", { codename: "no spaces allowed" }, adminH),
  );
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ["body", "codename"]);
  const relabelled = await call(
    app,
    "/api/v1/flags/FF_BETA",
    jsonBody("PATCH", { label: "Beta 2" }, adminH),
  );
  assert.equal(relabelled.body.label, "Beta 2");
  assert.equal(relabelled.body.is_active, true);
  assert.equal(
    (await call(app, "/api/v1/flags/FF_BETA", jsonBody("PATCH", { is_active: false }, userH)))
      .status,
    403,
  );
  assert.equal(
    (await call(app, "/api/v1/flags/", jsonBody("POST", { codename: "FF_X" }))).status,
    401,
  );
  const missing = await call(
    app,
    "/api/v1/flags/FF_NOPE",
    jsonBody("PATCH", { is_active: true }, adminH),
  );
  assert.deepEqual(missing, { status: 404, body: { detail: "Feature flag not found" } });
  const deleted = await call(app, "/api/v1/flags/FF_BETA", { method: "DELETE", headers: adminH });
  assert.deepEqual(deleted, {
    status: 200,
    body: { message: "Feature flag deleted successfully" },
  });
  assert.equal(
    (await call(app, "/api/v1/flags/FF_BETA", { method: "DELETE", headers: adminH })).status,
    404,
  );
});

Deno.test("the cache follows plain-SQL changes, and unknown flags read as off", async () => {
  const { db } = await setup();
  await using _ = db;
  assert.equal(isEnabled("FF_NEVER_DEFINED"), false);
  await db.sql`insert into feature_flags (codename, is_active) values ('FF_SQL', true)`;
  await waitFor(() => isEnabled("FF_SQL"));
  await db.sql`update feature_flags set is_active = false where codename = 'FF_SQL'`;
  await waitFor(() => !isEnabled("FF_SQL"));
  await db.sql`update feature_flags set is_active = true where codename = 'FF_SQL'`;
  await waitFor(() => isEnabled("FF_SQL"));
  await db.sql`delete from feature_flags where codename = 'FF_SQL'`;
  await waitFor(() => !isEnabled("FF_SQL"));
});

async function terminateListener(db: TestDatabase): Promise<number> {
  const rows = await db.sql`
    select pg_terminate_backend(pid) from pg_stat_activity
    where datname = ${db.name} and query ilike 'listen%tusk_feature_flags%'`;
  return rows.length;
}

Deno.test("after its LISTEN connection is killed, the cache reconnects and reloads", async () => {
  const { db, logs } = await setup();
  await using _ = db;
  assert.equal(await terminateListener(db), 1);
  // A change made while the listener may still be down must not be lost.
  await db.sql`update feature_flags set is_active = true where codename = 'FF_ENABLE_REGISTRATION'`;
  await waitFor(() => isEnabled("FF_ENABLE_REGISTRATION"));
  await waitFor(() =>
    logs.some((l) => l.msg === "feature flag listener reconnected; reloading flags")
  );
  await db
    .sql`update feature_flags set is_active = false where codename = 'FF_ENABLE_REGISTRATION'`;
  await waitFor(() => !isEnabled("FF_ENABLE_REGISTRATION"));
});
