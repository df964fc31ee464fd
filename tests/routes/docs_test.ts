import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";

Deno.test("/api/v1/openapi.json is a valid OpenAPI 3.1 document of our routes", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const res = await app.request("/api/v1/openapi.json");
  assert.equal(res.status, 200);
  const spec = await res.json();
  const validator = new Validator();
  const result = await validator.validate(spec);
  assert.equal(validator.version, "3.1");
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
  for (const path of ["/healthz", "/readyz", "/api/v1/utils/health-check"]) {
    assert.ok(spec.paths[path]?.get, `${path} is missing`);
  }
});

/**
 * The FastAPI full-stack template's operations and their operation ids, which
 * FastAPI builds as `{first tag}-{handler name}` (its `custom_generate_unique_id`)
 * and its generated client turns into `LoginService.loginAccessToken`, ...
 * Listed from its backend/app/api/routes.
 */
const TEMPLATE_OPERATIONS = {
  "post /api/v1/login/access-token": "login-login_access_token",
  "post /api/v1/login/test-token": "login-test_token",
  "post /api/v1/password-recovery/{email}": "login-recover_password",
  "post /api/v1/reset-password/": "login-reset_password",
  "post /api/v1/password-recovery-html-content/{email}": "login-recover_password_html_content",
  "get /api/v1/users/": "users-read_users",
  "post /api/v1/users/": "users-create_user",
  "get /api/v1/users/me": "users-read_user_me",
  "patch /api/v1/users/me": "users-update_user_me",
  "delete /api/v1/users/me": "users-delete_user_me",
  "patch /api/v1/users/me/password": "users-update_password_me",
  "post /api/v1/users/signup": "users-register_user",
  "get /api/v1/users/{user_id}": "users-read_user_by_id",
  "patch /api/v1/users/{user_id}": "users-update_user",
  "delete /api/v1/users/{user_id}": "users-delete_user",
  "post /api/v1/utils/test-email/": "utils-test_email",
  "get /api/v1/utils/health-check/": "utils-health_check",
  "get /api/v1/items/": "items-read_items",
  "post /api/v1/items/": "items-create_item",
  "get /api/v1/items/{id}": "items-read_item",
  "put /api/v1/items/{id}": "items-update_item",
  "delete /api/v1/items/{id}": "items-delete_item",
  "post /api/v1/private/users/": "private-create_user",
};

Deno.test("every template operation has the template's operation id and tag; ids are unique", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db); // local: /private/users/ is mounted
  const spec = await (await app.request("/api/v1/openapi.json")).json();
  const found: Record<string, { operationId?: string; tags?: string[] }> = {};
  for (const [path, item] of Object.entries(spec.paths as Record<string, object>)) {
    for (const [method, operation] of Object.entries(item)) {
      // The template's paths end in / where its routes do; ours answer both.
      found[`${method} ${path.replace(/\/$/, "")}`] = operation;
    }
  }
  for (const [key, operationId] of Object.entries(TEMPLATE_OPERATIONS)) {
    const operation = found[key.replace(/\/$/, "")];
    assert.ok(operation, `${key} is missing from the document`);
    assert.equal(operation.operationId, operationId, key);
    assert.deepEqual(operation.tags?.slice(0, 1), [operationId.split("-")[0]], key);
  }
  const ids = Object.values(found).map((o) => o.operationId);
  assert.ok(ids.every((id) => typeof id === "string"), "every operation has an id");
  assert.equal(new Set(ids).size, ids.length, "operation ids are unique");
});

Deno.test("/docs works offline: every script and stylesheet is served by the app", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db, { env: { PROJECT_NAME: "Acme <API>" } });
  const page = await app.request("/docs");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("Content-Security-Policy")!, /script-src 'self'/);
  const html = await page.text();
  assert.match(html, /<title>Acme &#60;API&#62; - API docs<\/title>/);
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(assets.length >= 3);
  for (const asset of assets) {
    assert.match(asset, /^\/docs\//, `${asset} must be served locally`);
    const res = await app.request(asset);
    assert.equal(res.status, 200, asset);
    const body = await res.text();
    assert.ok(body.length > 0, asset);
    if (asset.endsWith("init.js")) assert.match(body, /\/api\/v1\/openapi\.json/);
  }
  const missing = await app.request("/docs/nope.js");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});
