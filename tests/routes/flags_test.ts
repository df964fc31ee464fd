import assert from "node:assert/strict";
import { isEnabled, variant } from "../../services/flag_cache.ts";
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

Deno.test("flag API: rules, variants and visibility are stored, read back and explained", async () => {
  const { db, app, adminH, userH } = await setup();
  await using _ = db;
  const created = await call(
    app,
    "/api/v1/flags/",
    jsonBody("POST", {
      codename: "FF_STAFF",
      is_active: true,
      client_visible: true,
      rules: [
        {
          description: "staff",
          conditions: [{ attribute: "email", operator: "ends_with", value: "@Example.com" }],
          variant: "on",
        },
        { percentage: 12.5, variant: "on" },
      ],
    }, adminH),
  );
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.deepEqual(created.body.rules, [
    {
      description: "staff",
      conditions: [{ attribute: "email", operator: "ends_with", value: "@example.com" }],
      variant: "on",
    },
    { percentage: 12.5, variant: "on" },
  ]);
  assert.equal(created.body.client_visible, true);
  assert.equal(created.body.variants, null);
  assert.equal(created.body.last_evaluated_at, null);
  assert.equal(created.body.stale, false);
  // The public list keeps its template-compatible shape.
  const list = await call(app, "/api/v1/flags/");
  assert.deepEqual(Object.keys(list.body.data[0]).sort(), ["codename", "is_active", "label"]);

  const read = await call(app, "/api/v1/flags/FF_STAFF", { headers: adminH });
  assert.deepEqual(read.body.rules, created.body.rules);
  assert.equal((await call(app, "/api/v1/flags/FF_STAFF", { headers: userH })).status, 403);
  assert.equal((await call(app, "/api/v1/flags/FF_NOPE", { headers: adminH })).status, 404);

  const explained = await call(
    app,
    "/api/v1/flags/FF_STAFF/explain",
    jsonBody("POST", { context: { targetingKey: "u1", email: "ann@other.org" } }, adminH),
  );
  assert.equal(explained.status, 200);
  assert.equal(explained.body.steps[0].outcome, "no match");
  assert.match(explained.body.steps[0].description, /^staff: email ends_with "@example.com" → on$/);
  assert.ok(
    ["matched", "outside the percentage"].includes(explained.body.steps[1].outcome),
    JSON.stringify(explained.body),
  );

  const variants = await call(
    app,
    "/api/v1/flags/FF_STAFF",
    jsonBody("PATCH", {
      variants: { small: 1, large: { size: 10 } },
      default_variant: "small",
      rules: [{ split: [{ variant: "small", weight: 40 }, { variant: "large", weight: 60 }] }],
    }, adminH),
  );
  assert.equal(variants.status, 200, JSON.stringify(variants.body));
  assert.deepEqual(variants.body.variants, { small: 1, large: { size: 10 } });
});

Deno.test("bad rules are a 422 that says what is wrong, and nothing is stored", async () => {
  const { db, app, adminH } = await setup();
  await using _ = db;
  await call(app, "/api/v1/flags/", jsonBody("POST", { codename: "FF_KEEP" }, adminH));
  const [before] = await db.sql`select to_jsonb(f) - 'updated_at' as row from feature_flags f
    where codename = 'FF_KEEP'`;
  const cases: [unknown, RegExp][] = [
    [
      { rules: [{ percentage: 130, variant: "on" }] },
      /"loc":\["body","rules",0,"percentage"\].*less than or equal to 100/,
    ],
    [{
      rules: [{ conditions: [{ attribute: "plan", operator: "like", value: "x" }], variant: "on" }],
    }, /Unknown operator/],
    [
      { rules: [{ split: [{ variant: "on", weight: 50 }, { variant: "off", weight: 40 }] }] },
      /add up to 100/,
    ],
    [
      { rules: [{ variant: "purple" }] },
      /Rule 1 serves "purple", which is not a variant \(on, off\)/,
    ],
    [{ variants: { a: 1, b: 2 } }, /needs a default_variant/],
    [{ variants: { a: 1 }, default_variant: "z" }, /not a variant \(a\)/],
  ];
  for (const [change, message] of cases) {
    const res = await call(app, "/api/v1/flags/FF_KEEP", jsonBody("PATCH", change, adminH));
    assert.equal(res.status, 422, JSON.stringify(change));
    const detail = res.body.detail;
    assert.match(
      typeof detail === "string" ? detail : JSON.stringify(detail),
      message,
      JSON.stringify(res.body),
    );
    const created = await call(
      app,
      "/api/v1/flags/",
      jsonBody("POST", { codename: "FF_NEW", ...(change as object) }, adminH),
    );
    assert.equal(created.status, 422, JSON.stringify(change));
  }
  const [after] = await db.sql`select to_jsonb(f) - 'updated_at' as row from feature_flags f
    where codename = 'FF_KEEP'`;
  assert.deepEqual(after, before);
  const [created] = await db.sql`select count(*)::int as n from feature_flags
    where codename = 'FF_NEW'`;
  assert.equal(created!.n, 0);
});

Deno.test("isEnabled() with a subject follows rules; without one, a rule-less flag as before", async () => {
  const { db, app, adminH } = await setup();
  await using _ = db;
  const patched = await call(
    app,
    "/api/v1/flags/FF_ENABLE_REGISTRATION",
    jsonBody("PATCH", { is_active: true }, adminH),
  );
  assert.equal(patched.body.rules.length, 0);
  await waitFor(() => isEnabled("FF_ENABLE_REGISTRATION"));
  assert.equal((await signup(app)).status, 200);
  await call(
    app,
    "/api/v1/flags/",
    jsonBody("POST", {
      codename: "FF_BETA_USERS",
      is_active: true,
      rules: [{ conditions: [{ attribute: "beta", operator: "eq", value: true }], variant: "on" }],
    }, adminH),
  );
  await waitFor(() => isEnabled("FF_BETA_USERS", { beta: true }));
  assert.equal(isEnabled("FF_BETA_USERS", { beta: false }), false);
  assert.equal(isEnabled("FF_BETA_USERS"), false);
  assert.deepEqual(variant("FF_BETA_USERS", { beta: true }), {
    value: true,
    variant: "on",
    reason: "TARGETING_MATCH",
    rule: 0,
  });
  assert.deepEqual(variant("FF_UNKNOWN"), { reason: "ERROR", error: "FLAG_NOT_FOUND" });
});

Deno.test("evaluations are recorded for stale-flag detection", async () => {
  const { db, app, adminH, flags } = await setup();
  await using _ = db;
  await call(app, "/api/v1/flags/", jsonBody("POST", { codename: "FF_USED" }, adminH));
  await call(app, "/api/v1/flags/", jsonBody("POST", { codename: "FF_IDLE" }, adminH));
  await waitFor(() => flags!.definitions().has("FF_IDLE"));
  isEnabled("FF_USED");
  await flags!.flushUsage();
  // Both were changed long ago; only the evaluated one is not stale.
  await db.sql`alter table feature_flags disable trigger feature_flags_updated_at`;
  await db.sql`update feature_flags set updated_at = now() - interval '90 days'`;
  const used = await call(app, "/api/v1/flags/FF_USED", { headers: adminH });
  const idle = await call(app, "/api/v1/flags/FF_IDLE", { headers: adminH });
  assert.ok(Date.now() - Date.parse(used.body.last_evaluated_at) < 60_000);
  assert.equal(used.body.stale, false);
  assert.equal(idle.body.last_evaluated_at, null);
  assert.equal(idle.body.stale, true);
});

Deno.test("a rule change is in the flag's audit history and reverts", async () => {
  const { db, app, adminH, flags } = await setup();
  await using _ = db;
  await call(
    app,
    "/api/v1/flags/",
    jsonBody("POST", { codename: "FF_R", is_active: true }, adminH),
  );
  const changed = await call(
    app,
    "/api/v1/flags/FF_R",
    jsonBody("PATCH", { rules: [{ percentage: 10, variant: "on" }] }, adminH),
  );
  assert.equal(changed.status, 200);
  const history = await call(app, "/api/v1/history/?table=feature_flags&row_id=FF_R", {
    headers: adminH,
  });
  const update = history.body.data.find((e: { op: string }) => e.op === "update");
  assert.deepEqual(update.diff.rules, [[], [{ percentage: 10, variant: "on" }]]);
  const reverted = await call(
    app,
    `/api/v1/history/${update.id}/revert`,
    jsonBody("POST", {}, adminH),
  );
  assert.equal(reverted.status, 200, JSON.stringify(reverted.body));
  const [row] = await db.sql`select rules from feature_flags where codename = 'FF_R'`;
  assert.deepEqual(row!.rules, []);
  await waitFor(() => flags!.definitions().get("FF_R")?.rules.length === 0);
  assert.equal(isEnabled("FF_R", { targetingKey: "anyone" }), true);
});
