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
