import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appWithUsers } from "../_app.ts";
import { bearer, call, jsonBody, login } from "../_factories.ts";

const KEY = "Idempotency-Key";

function withKey(headers: Record<string, string>, key: string) {
  return { ...headers, [KEY]: key };
}

Deno.test("a replay passes the route's authorization again: a demoted superuser gets 403, not the stored answer", async () => {
  const { db, app, admin, alice, aliceH } = await appWithUsers();
  await using _ = db;
  const { body: item } = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "a" }, aliceH),
  );
  const adminH = bearer(await login(app, admin.email, admin.password));
  const flag = jsonBody("POST", { codename: "FF_REPLAYED" }, withKey(adminH, "flag-1"));
  assert.equal((await call(app, "/api/v1/flags/", flag)).status, 200);
  // A superuser may edit anyone's item; that right is the handler's own check.
  const edit = jsonBody("PUT", { title: "by admin" }, withKey(adminH, "edit-1"));
  assert.equal((await call(app, `/api/v1/items/${item.id}`, edit)).status, 200);

  // Demoted (by SQL: the API keeps the last superuser), then logged in again with a new token.
  await db.sql`update users set is_superuser = false where id = ${admin.user.id}`;
  const demotedH = bearer(await login(app, admin.email, admin.password));
  const replayFlag = await call(
    app,
    "/api/v1/flags/",
    jsonBody("POST", { codename: "FF_REPLAYED" }, withKey(demotedH, "flag-1")),
  );
  assert.equal(replayFlag.status, 403, "superuserOnly() runs before the replay");
  assert.equal(replayFlag.body.detail, "The user doesn't have enough privileges");
  const replayEdit = await app.request(
    `/api/v1/items/${item.id}`,
    jsonBody("PUT", { title: "by admin" }, withKey(demotedH, "edit-1")),
  );
  assert.equal(replayEdit.status, 403, "an answer made as a superuser needs one to replay");
  assert.equal(replayEdit.headers.get("Idempotent-Replayed"), null);
  assert.equal((await replayEdit.json()).detail, "The user doesn't have enough privileges");

  // A key of a normal user's own request replays as before.
  const own = jsonBody("PUT", { title: "mine" }, withKey(aliceH, "own-1"));
  assert.equal((await call(app, `/api/v1/items/${item.id}`, own)).status, 200);
  const again = await app.request(`/api/v1/items/${item.id}`, own);
  assert.equal(again.headers.get("Idempotent-Replayed"), "true");
  assert.equal(alice.user.is_superuser, false);
});

Deno.test("the recovery preview carries a placeholder token and is never stored under an Idempotency-Key", async () => {
  const { db, app, adminH, alice } = await appWithUsers();
  await using _ = db;
  const path = `/api/v1/password-recovery-html-content/${alice.email}`;
  for (let i = 0; i < 2; i++) {
    const res = await app.request(path, { method: "POST", headers: withKey(adminH, "preview") });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("Cache-Control"), "no-store");
    assert.equal(res.headers.get("Idempotent-Replayed"), null, "run again, not replayed");
    const html = await res.text();
    assert.match(html, /reset-password\?token=preview-only-this-is-not-a-token/);
  }
  const [tokens] = await db.sql`select count(*)::int as n from password_reset_tokens`;
  assert.equal(tokens!.n, 0, "the preview mints no live token");
  const [keys] = await db.sql`select count(*)::int as n from idempotency_keys`;
  assert.equal(keys!.n, 0);
});

Deno.test("login answers are not cacheable (RFC 6749 section 5.1)", async () => {
  const { db, app, alice } = await appWithUsers();
  await using _ = db;
  const res = await app.request("/api/v1/login/access-token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: alice.email, password: alice.password }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("Cache-Control"), "no-store");
  assert.equal(res.headers.get("Pragma"), "no-cache");
  await res.body?.cancel();
});

Deno.test("stored request hashes are keyed (a body with a password cannot be cracked from the table); older plain ones still match", async () => {
  const { db, app, aliceH, alice } = await appWithUsers();
  await using _ = db;
  const body = { current_password: alice.password, new_password: "a password for the table" };
  const init = jsonBody("PATCH", body, withKey(aliceH, "pw-1"));
  assert.equal((await call(app, "/api/v1/users/me/password", init)).status, 200);
  const [row] = await db.sql`select request_hash from idempotency_keys where key = 'pw-1'`;
  const text = `PATCH\n/api/v1/users/me/password\n\n${init.body}`;
  const plain = createHash("sha256").update(text).digest("hex");
  assert.match(row!.request_hash, /^hmac-sha256:[0-9a-f]{64}$/);
  assert.ok(!row!.request_hash.includes(plain));

  // A key stored before this release (plain SHA-256) still guards its request until it expires.
  // (The new password revoked the old token.)
  const h = bearer(await login(app, alice.email, body.new_password));
  const item = jsonBody("POST", { title: "legacy" }, withKey(h, "legacy-1"));
  const first = await call(app, "/api/v1/items/", item);
  assert.equal(first.status, 200);
  const legacy = createHash("sha256").update(`POST\n/api/v1/items/\n\n${item.body}`).digest("hex");
  await db.sql`update idempotency_keys set request_hash = ${legacy} where key = 'legacy-1'`;
  const replay = await app.request("/api/v1/items/", item);
  assert.equal(replay.headers.get("Idempotent-Replayed"), "true");
  assert.deepEqual(await replay.json(), first.body);
  const other = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "x" }, withKey(h, "legacy-1")),
  );
  assert.equal(other.status, 422);
});

Deno.test("every write the OpenAPI document offers the header on honours it", async () => {
  const { db, app, adminH } = await appWithUsers();
  await using _ = db;
  const doc = await (await app.request("/api/v1/openapi.json")).json();
  const offered: string[] = [];
  const paths = doc.paths as Record<string, Record<string, { parameters?: { name: string }[] }>>;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!(op.parameters ?? []).some((p) => p.name === KEY)) continue;
      offered.push(`${method.toUpperCase()} ${path}`);
      // Any value fits the path: the key is checked before the path, query and body are.
      const url = path.replace(/\{[^}]+\}/g, "1");
      const res = await call(app, url, {
        method: method.toUpperCase(),
        headers: withKey(adminH, "not a valid key"),
      });
      assert.equal(res.status, 400, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.detail, "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
  }
  assert.ok(offered.length >= 19, offered.join("\n"));
  assert.ok(offered.includes("POST /api/v1/history/{event_id}/revert"));
});
