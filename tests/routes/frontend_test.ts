import assert from "node:assert/strict";
import { join } from "node:path";
import { testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";

/** A built app as Vite leaves it: index.html, hashed assets, a public file. */
async function builtFrontend(db: TestDatabase): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tusk-frontend-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  await Deno.mkdir(join(dir, "assets"));
  await Deno.writeTextFile(join(dir, "index.html"), "<!doctype html><div id=root></div>");
  await Deno.writeTextFile(join(dir, "assets", "index-Bk7aZ2Qx.js"), "console.log(1)");
  await Deno.writeFile(join(dir, "favicon.png"), new Uint8Array([137, 80, 78, 71]));
  const outside = await Deno.makeTempFile({ prefix: "tusk-secret-" });
  db.defer(() => Deno.remove(outside));
  await Deno.writeTextFile(outside, "outside the folder");
  await Deno.symlink(outside, join(dir, "escape.txt"));
  return await Deno.realPath(dir);
}

async function get(
  app: { request: (p: string, i?: RequestInit) => Response | Promise<Response> },
  path: string,
  init?: RequestInit,
) {
  const res = await app.request(path, init);
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    cache: res.headers.get("cache-control"),
    body: await res.text(),
  };
}

Deno.test("FRONTEND_DIR: files by path, index.html for the app's own routes, and the right caching", async () => {
  await using db = await migratedDatabase();
  const root = await builtFrontend(db);
  const { app } = await testApp(db, { frontendRoot: root });
  for (const path of ["/", "/items", "/settings/profile", "/login?next=%2Fadmin"]) {
    const page = await get(app, path);
    assert.equal(page.status, 200, path);
    assert.match(page.type ?? "", /^text\/html/, path);
    assert.equal(page.cache, "no-cache", path);
    assert.equal(page.body, "<!doctype html><div id=root></div>", path);
  }
  const asset = await get(app, "/assets/index-Bk7aZ2Qx.js");
  assert.equal(asset.body, "console.log(1)");
  assert.match(asset.type ?? "", /javascript/);
  assert.equal(asset.cache, "public, max-age=31536000, immutable");
  const icon = await app.request("/favicon.png");
  assert.equal(icon.headers.get("content-type"), "image/png");
  assert.equal(icon.headers.get("cache-control"), "no-cache");
  await icon.body?.cancel();
  const head = await app.request("/", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "34");
  assert.equal(await head.text(), "");
});

Deno.test("FRONTEND_DIR: no path leaves the folder, and the API's own answers stay its own", async () => {
  await using db = await migratedDatabase();
  const root = await builtFrontend(db);
  const { app } = await testApp(db, { frontendRoot: root });
  for (
    const path of [
      "/%2e%2e/%2e%2e/etc/passwd",
      "/..%2f..%2fetc%2fpasswd",
      "/escape.txt",
      "/assets/%00.js",
      "/%E0%A4%A",
    ]
  ) {
    const res = await get(app, path);
    assert.equal(res.status, 200, path);
    assert.equal(
      res.body,
      "<!doctype html><div id=root></div>",
      `${path} gets the app, not a file`,
    );
  }
  const api = await app.request("/api/v1/nope");
  assert.equal(api.status, 404);
  assert.deepEqual(await api.json(), { detail: "Not Found" });
  assert.equal((await get(app, "/api/v1/utils/health-check/")).body, "true");
  assert.equal((await get(app, "/healthz")).status, 200);
  assert.match((await get(app, "/docs")).body, /swagger/i);
  const console404 = await get(app, "/admin/nope");
  assert.doesNotMatch(console404.body, /id=root/);
  const post = await app.request("/somewhere", { method: "POST" });
  assert.equal(post.status, 404, "only GET and HEAD reach the frontend");
  await post.body?.cancel();
});

Deno.test("without FRONTEND_DIR, / is the API's JSON 404 as before", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const res = await app.request("/");
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { detail: "Not Found" });
});
