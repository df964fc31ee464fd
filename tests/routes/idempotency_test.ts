import assert from "node:assert/strict";
import { deleteExpiredKeys } from "../../db/idempotency_keys.ts";
import { appWithUsers } from "../_app.ts";
import { call, jsonBody } from "../_factories.ts";

const KEY = "Idempotency-Key";

function withKey(headers: Record<string, string>, key: string) {
  return { ...headers, [KEY]: key };
}

async function itemCount(sql: (s: TemplateStringsArray) => Promise<unknown[]>): Promise<number> {
  const rows = await sql`select count(*)::int as n from items` as { n: number }[];
  return rows[0]!.n;
}

Deno.test("idempotency: a retried POST is answered from the first response and writes once", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const init = jsonBody("POST", { title: "once" }, withKey(aliceH, "k-1"));
  const first = await app.request("/api/v1/items/", init);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("Idempotent-Replayed"), null);
  const created = await first.json();

  const again = await app.request("/api/v1/items/", init);
  assert.equal(again.status, 200);
  assert.equal(again.headers.get("Idempotent-Replayed"), "true");
  assert.match(again.headers.get("Content-Type") ?? "", /application\/json/);
  assert.deepEqual(await again.json(), created);
  assert.equal(await itemCount(db.sql), 1);

  // Without the header nothing changes: two requests, two items.
  await call(app, "/api/v1/items/", jsonBody("POST", { title: "plain" }, aliceH));
  await call(app, "/api/v1/items/", jsonBody("POST", { title: "plain" }, aliceH));
  assert.equal(await itemCount(db.sql), 3);
});

Deno.test("idempotency: the same key with another request is 422; keys belong to their user", async () => {
  const { db, app, aliceH, bobH, bob } = await appWithUsers();
  await using _ = db;
  await call(app, "/api/v1/items/", jsonBody("POST", { title: "a" }, withKey(aliceH, "shared")));
  const other = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "b" }, withKey(aliceH, "shared")),
  );
  assert.equal(other.status, 422);
  assert.deepEqual(other.body, {
    detail: "This Idempotency-Key was already used with a different request",
  });
  const elsewhere = await call(
    app,
    "/api/v1/users/me",
    jsonBody("PATCH", { full_name: "x" }, withKey(aliceH, "shared")),
  );
  assert.equal(elsewhere.status, 422, "another path is another request");
  assert.equal(await itemCount(db.sql), 1);

  // Bob's "shared" is his own key: his request runs.
  const bobs = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "b" }, withKey(bobH, "shared")),
  );
  assert.equal(bobs.status, 200);
  assert.equal(bobs.body.owner_id, bob.user.id);
  assert.equal(await itemCount(db.sql), 2);
});

Deno.test("idempotency: a repeat while the first request still runs is 409, then replays", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const init = jsonBody("POST", { title: "slow" }, withKey(aliceH, "in-flight"));
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => locked = r);
  // Hold the items table so the first request's insert waits.
  const holder = db.sql.begin(async (tx) => {
    await tx`lock table items in exclusive mode`;
    locked();
    await released;
  });
  await isLocked;
  const first = app.request("/api/v1/items/", init);
  await new Promise((r) => setTimeout(r, 300));
  const during = await call(app, "/api/v1/items/", init);
  assert.equal(during.status, 409);
  assert.match(during.body.detail, /still in progress/);
  release();
  await holder;
  const done = await first;
  assert.equal(done.status, 200);
  const after = await app.request("/api/v1/items/", init);
  assert.equal(after.headers.get("Idempotent-Replayed"), "true");
  assert.deepEqual(await after.json(), await done.json());
  assert.equal(await itemCount(db.sql), 1);
});

Deno.test("idempotency: the write and the stored response commit together or not at all", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  // Make storing any response fail: the item written before it must roll back with it.
  await db.sql`alter table idempotency_keys add constraint refuse check (status < 0) not valid`;
  const res = await app.request(
    "/api/v1/items/",
    jsonBody("POST", { title: "doomed" }, withKey(aliceH, "atomic")),
  );
  assert.ok(res.status >= 400, `answered ${res.status}`);
  assert.equal(await itemCount(db.sql), 0);
  const [keys] = await db.sql`select count(*)::int as n from idempotency_keys`;
  assert.equal(keys!.n, 0);

  await db.sql`alter table idempotency_keys drop constraint refuse`;
  const retry = await app.request(
    "/api/v1/items/",
    jsonBody("POST", { title: "doomed" }, withKey(aliceH, "atomic")),
  );
  assert.equal(retry.status, 200, "the retry runs: nothing was kept");
  assert.equal(await itemCount(db.sql), 1);
});

Deno.test("idempotency: error answers replay too; DELETE, PUT and PATCH honour the key", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const { body: item } = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "t" }, aliceH),
  );
  const del = { method: "DELETE", headers: withKey(aliceH, "del-1") };
  const first = await call(app, `/api/v1/items/${item.id}`, del);
  assert.equal(first.status, 200);
  // Without the key a second DELETE is a 404; with it, the first answer again.
  const again = await app.request(`/api/v1/items/${item.id}`, del);
  assert.equal(again.status, 200);
  assert.equal(again.headers.get("Idempotent-Replayed"), "true");
  assert.deepEqual(await again.json(), first.body);

  const missing = { method: "DELETE", headers: withKey(aliceH, "del-2") };
  assert.equal((await call(app, `/api/v1/items/${item.id}`, missing)).status, 404);
  const replayed404 = await app.request(`/api/v1/items/${item.id}`, missing);
  assert.equal(replayed404.status, 404);
  assert.equal(replayed404.headers.get("Idempotent-Replayed"), "true");

  const put = jsonBody("PUT", { title: "u" }, withKey(aliceH, "put-1"));
  const { body: other } = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "o" }, aliceH),
  );
  assert.equal((await call(app, `/api/v1/items/${other.id}`, put)).status, 200);
  const putAgain = await app.request(`/api/v1/items/${other.id}`, put);
  assert.equal(putAgain.headers.get("Idempotent-Replayed"), "true");
  // A GET ignores the header.
  const get = await app.request(`/api/v1/items/${other.id}`, {
    headers: withKey(aliceH, "put-1"),
  });
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("Idempotent-Replayed"), null);
});

Deno.test("idempotency: bad keys are 400; expired keys are forgotten and cleaned up", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  for (const bad of ["has space", "x".repeat(256), 'quote"d{}~ok but tab\t']) {
    const res = await call(
      app,
      "/api/v1/items/",
      jsonBody("POST", { title: "t" }, withKey(aliceH, bad)),
    );
    assert.equal(res.status, 400, bad);
    assert.equal(res.body.detail, "Idempotency-Key must be 1 to 255 visible ASCII characters");
  }
  assert.equal(await itemCount(db.sql), 0);

  await call(app, "/api/v1/items/", jsonBody("POST", { title: "old" }, withKey(aliceH, "aged")));
  await db.sql`update idempotency_keys set created_at = now() - interval '25 hours'`;
  // Past IDEMPOTENCY_TTL_HOURS (24) the key is free again, even for another request.
  const fresh = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "new" }, withKey(aliceH, "aged")),
  );
  assert.equal(fresh.status, 200);
  assert.equal(fresh.body.title, "new");
  await db.sql`update idempotency_keys set created_at = now() - interval '25 hours'`;
  assert.equal(await deleteExpiredKeys(db.sql, 24), 1);
  assert.equal(await deleteExpiredKeys(db.sql, 24), 0);
});

Deno.test("idempotency: the OpenAPI document offers the header on authenticated writes only", async () => {
  const { db, app } = await appWithUsers();
  await using _ = db;
  const doc = await (await app.request("/api/v1/openapi.json")).json();
  const names = (op: { parameters?: { name: string }[] }) =>
    (op.parameters ?? []).map((p) => p.name);
  assert.ok(names(doc.paths["/api/v1/items"].post).includes(KEY));
  assert.ok(doc.paths["/api/v1/items"].post.responses["409"]);
  assert.ok(names(doc.paths["/api/v1/items/{id}"].delete).includes(KEY));
  assert.ok(!names(doc.paths["/api/v1/items"].get).includes(KEY));
  assert.ok(!names(doc.paths["/api/v1/login/access-token"].post).includes(KEY));
});
