/**
 * Where the console is mounted: `/admin`, `/console` beside a served
 * frontend (whose own `/admin` page must load), or `CONSOLE_PATH`; every
 * link, asset and cookie follows it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { consoleClient } from "./_client.ts";

Deno.test("with FRONTEND_DIR the console moves to /console, so the app's own /admin page loads", async () => {
  await using db = await migratedDatabase();
  const root = await Deno.makeTempDir({ prefix: "tusk-frontend-" });
  db.defer(() => Deno.remove(root, { recursive: true }));
  await Deno.writeTextFile(join(root, "index.html"), "<!doctype html><div id=root></div>");
  const { app } = await testApp(db, { frontendRoot: root, env: { FRONTEND_DIR: root } });
  // The FastAPI template's frontend has an /admin page of its own; a reload must reach it.
  for (const path of ["/admin", "/admin/users"]) {
    const res = await app.request(path);
    assert.equal(await res.text(), "<!doctype html><div id=root></div>", path);
  }
  const admin = await makeUser(db.sql, { superuser: true });
  const client = consoleClient(app, "/console");
  const door = await client.get("/console/jobs");
  assert.equal(door.status, 303);
  assert.equal(door.headers.get("location"), "/console/login");
  const login = await client.get("/console/login");
  assert.match(login.headers.getSetCookie().join("\n"), /Path=\/console(;|$)/);
  await login.body?.cancel();
  assert.equal((await client.login(admin.email, admin.password)).status, 303);
  assert.match(client.cookies.get("tusk_console") ?? "", /./, "logged in");
  const overview = await client.html("/console");
  assert.match(overview, /<h1>Overview<\/h1>/);
  assert.match(overview, /href="\/console\/jobs"/);
  assert.match(overview, /href="\/console\/assets\/console\.css\?v=[0-9a-f]{12}"/);
  assert.doesNotMatch(overview, /"\/admin/, "no link leads back to /admin");
  const css = await client.get(overview.match(/\/console\/assets\/console\.css\?v=[0-9a-f]+/)![0]);
  assert.equal(css.status, 200);
  await css.body?.cancel();
  const missing = await client.get("/console/nope");
  assert.equal(missing.status, 404);
  assert.doesNotMatch(await missing.text(), /id=root/, "the console's own 404");
});

Deno.test("CONSOLE_PATH mounts the console anywhere; /admin is then nobody's", async () => {
  await using db = await migratedDatabase();
  const { app, config } = await testApp(db, { env: { CONSOLE_PATH: "/ops/console" } });
  assert.equal(config.consolePath, "/ops/console");
  const login = await app.request("/ops/console/login");
  assert.equal(login.status, 200);
  assert.match(await login.text(), /action="\/ops\/console\/login"/);
  const old = await app.request("/admin/login");
  assert.equal(old.status, 404);
  assert.deepEqual(await old.json(), { detail: "Not Found" });
});
