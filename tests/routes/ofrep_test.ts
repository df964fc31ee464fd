/**
 * OFREP through the real OpenFeature server SDK and its OFREP provider, over
 * HTTP, plus the protocol's edges (parse errors, ETags, who sees which flag)
 * checked on the wire.
 */
import assert from "node:assert/strict";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature } from "@openfeature/server-sdk";
import { testApp } from "../_app.ts";
import { buttonColor, NEW_CHECKOUT } from "../_flags.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";

const SERVER_KEY = "ofrep-test-server-key-0123456789abcdef";

async function setup() {
  const db = await migratedDatabase();
  const { app, flags } = await testApp(db, { env: { FLAGS_SERVER_KEY: SERVER_KEY } });
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const definitions = [
    NEW_CHECKOUT,
    buttonColor([{ percentage: 50, variant: "green" }]),
    {
      codename: "ops-limit",
      is_active: true,
      variants: { low: 10, high: 100, config: { retries: 3 } },
      default_variant: "low",
      rules: [
        {
          conditions: [{ attribute: "is_superuser", operator: "eq", value: true }],
          variant: "high",
        },
        { conditions: [{ attribute: "region", operator: "eq", value: "eu" }], variant: "config" },
      ],
    },
  ];
  for (const definition of definitions) {
    const created = await call(app, "/api/v1/flags/", jsonBody("POST", definition, adminH));
    assert.equal(created.status, 200, JSON.stringify(created.body));
  }
  await flags!.reload();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  db.defer(() => server.shutdown());
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { db, app, flags: flags!, admin, adminH, base };
}

function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/ofrep/v1/evaluate/flags${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("the OpenFeature server SDK reads targeted, split and variant flags over OFREP", async () => {
  const { db, base } = await setup();
  await using _ = db;
  await using _of = { [Symbol.asyncDispose]: () => OpenFeature.close() };
  await OpenFeature.setProviderAndWait(
    "tusk-server",
    new OFREPProvider({ baseUrl: base, headers: [["Authorization", `Bearer ${SERVER_KEY}`]] }),
  );
  await OpenFeature.setProviderAndWait("tusk-anonymous", new OFREPProvider({ baseUrl: base }));
  const server = OpenFeature.getClient("tusk-server");
  const anonymous = OpenFeature.getClient("tusk-anonymous");

  const staff = await server.getBooleanDetails("new-checkout", false, {
    targetingKey: "u1",
    email: "ann@example.com",
  });
  assert.equal(staff.value, true);
  assert.equal(staff.variant, "on");
  assert.equal(staff.reason, "TARGETING_MATCH");
  assert.deepEqual(staff.flagMetadata, { rule: 1 });
  const outsider = await server.getBooleanDetails("new-checkout", true, {
    targetingKey: "u2",
    email: "eve@other.org",
  });
  assert.equal(outsider.value, false);
  assert.equal(outsider.reason, "DEFAULT");

  // A 50 % split: sticky per targeting key, and both variants seen across subjects.
  const colors = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const first = await server.getStringValue("button-color", "none", { targetingKey: `s${i}` });
    const again = await server.getStringValue("button-color", "none", { targetingKey: `s${i}` });
    assert.equal(again, first);
    colors.add(first);
  }
  assert.deepEqual([...colors].sort(), ["#00f", "#0f0"]);

  assert.equal(
    await server.getNumberValue("ops-limit", 0, { targetingKey: "root", is_superuser: true }),
    100,
  );
  assert.deepEqual(
    await server.getObjectValue("ops-limit", {}, { targetingKey: "x", region: "eu" }),
    { retries: 3 },
  );

  const missing = await server.getBooleanDetails("no-such-flag", true, { targetingKey: "u1" });
  assert.equal(missing.value, true);
  assert.equal(missing.errorCode, "FLAG_NOT_FOUND");
  const keyless = await server.getStringDetails("button-color", "none", {});
  assert.equal(keyless.value, "none");
  assert.equal(keyless.errorCode, "TARGETING_KEY_MISSING");

  // Without the server key, a flag not marked client_visible does not exist.
  const hidden = await anonymous.getNumberDetails("ops-limit", 7, { targetingKey: "u1" });
  assert.equal(hidden.value, 7);
  assert.equal(hidden.errorCode, "FLAG_NOT_FOUND");
  assert.equal(
    await anonymous.getBooleanValue("new-checkout", false, {
      targetingKey: "u1",
      email: "ann@example.com",
    }),
    true,
  );
});

Deno.test("OFREP on the wire: parse errors, missing flags, keys, and a signed-in user's own attributes", async () => {
  const { db, base, app } = await setup();
  await using _ = db;
  const bad = await post(base, "/new-checkout", "{not json");
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), {
    key: "new-checkout",
    errorCode: "PARSE_ERROR",
    errorDetails: "The request body is not JSON",
  });
  const badContext = await post(base, "/new-checkout", { context: [1, 2] });
  assert.equal(badContext.status, 400);
  assert.equal((await badContext.json()).errorCode, "PARSE_ERROR");
  const bulkBad = await post(base, "", { context: "alice" });
  assert.deepEqual(
    { status: bulkBad.status, body: await bulkBad.json() },
    {
      status: 400,
      body: { errorCode: "PARSE_ERROR", errorDetails: "context must be a JSON object" },
    },
  );
  const missing = await post(base, "/nope", { context: { targetingKey: "u" } });
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    key: "nope",
    errorCode: "FLAG_NOT_FOUND",
    errorDetails: "Flag nope was not found",
  });
  const keyless = await post(base, "/button-color", { context: {} });
  assert.equal(keyless.status, 400);
  assert.equal((await keyless.json()).errorCode, "TARGETING_KEY_MISSING");
  const wrongKey = await post(base, "/ops-limit", { context: {} }, { "X-API-Key": "wrong" });
  assert.equal(wrongKey.status, 401);
  await wrongKey.body?.cancel();
  const rightKey = await post(base, "/ops-limit", { context: {} }, { "X-API-Key": SERVER_KEY });
  assert.deepEqual(await rightKey.json(), {
    key: "ops-limit",
    value: 10,
    variant: "low",
    reason: "DEFAULT",
    metadata: {},
  });

  // A signed-in user's id, email and role come from the server, not from what the context claims.
  const eve = await makeUser(db.sql, { email: "eve@other.org" });
  const eveH = bearer(await login(app, eve.email, eve.password));
  const claimed = await post(
    base,
    "/new-checkout",
    { context: { email: "boss@example.com" } },
    eveH,
  );
  assert.deepEqual(await claimed.json(), {
    key: "new-checkout",
    value: false,
    variant: "off",
    reason: "DEFAULT",
    metadata: {},
  });
  const forged = await post(base, "/new-checkout", {}, { Authorization: "Bearer not-a-token" });
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
});

Deno.test("OFREP bulk: only what the caller may see, an ETag, 304 until a flag changes", async () => {
  const { db, base, app, adminH, flags } = await setup();
  await using _ = db;
  const context = { context: { targetingKey: "u1", email: "ann@example.com" } };
  const first = await post(base, "", context);
  assert.equal(first.status, 200);
  const etag = first.headers.get("ETag")!;
  assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const body = await first.json();
  assert.deepEqual(body.flags.map((f: { key: string }) => f.key).sort(), [
    "button-color",
    "new-checkout",
  ]);
  assert.deepEqual(body.flags.find((f: { key: string }) => f.key === "new-checkout"), {
    key: "new-checkout",
    value: true,
    variant: "on",
    reason: "TARGETING_MATCH",
    metadata: { rule: 1 },
  });
  const server = await (await post(base, "", context, { "X-API-Key": SERVER_KEY })).json();
  assert.equal(server.flags.length, 4, "every flag, FF_ENABLE_REGISTRATION included");
  // A keyless context: the split flag answers its error in the list, the others their values.
  const keyless = await (await post(base, "", { context: {} })).json();
  assert.deepEqual(keyless.flags.find((f: { key: string }) => f.key === "button-color"), {
    key: "button-color",
    errorCode: "TARGETING_KEY_MISSING",
    errorDetails: "Rule 1 of button-color needs context.targetingKey",
  });

  const unchanged = await post(base, "", context, { "If-None-Match": etag });
  assert.equal(unchanged.status, 304);
  assert.equal(unchanged.headers.get("ETag"), etag);
  await unchanged.body?.cancel();

  const off = await call(
    app,
    "/api/v1/flags/new-checkout",
    jsonBody("PATCH", { is_active: false }, adminH),
  );
  assert.equal(off.status, 200);
  await flags.reload();
  const changed = await post(base, "", context, { "If-None-Match": etag });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.get("ETag"), etag);
  const after = await changed.json();
  assert.equal(
    after.flags.find((f: { key: string }) => f.key === "new-checkout").reason,
    "DISABLED",
  );
});
