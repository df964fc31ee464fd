import assert from "node:assert/strict";
import { appWithUsers } from "../_app.ts";
import { call, jsonBody } from "../_factories.ts";

Deno.test("items: create ignores owner_id, id and created_at in the body", async () => {
  const { db, app, aliceH, alice, bob } = await appWithUsers();
  await using _ = db;
  const res = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", {
      title: "Mine",
      description: "a thing",
      owner_id: bob.user.id,
      id: "00000000-0000-4000-8000-000000000000",
      created_at: "2000-01-01T00:00:00Z",
    }, aliceH),
  );
  assert.equal(res.status, 200);
  assert.equal(res.body.owner_id, alice.user.id);
  assert.notEqual(res.body.id, "00000000-0000-4000-8000-000000000000");
  assert.notEqual(res.body.created_at.slice(0, 4), "2000");
  assert.equal(res.body.description, "a thing");
  const noDescription = await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "Bare" }, aliceH),
  );
  assert.equal(noDescription.body.description, null);
});

Deno.test("items: a user lists only their own, newest first; a superuser lists all", async () => {
  const { db, app, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  for (const title of ["a1", "a2", "a3"]) {
    await call(app, "/api/v1/items/", jsonBody("POST", { title }, aliceH));
  }
  await call(app, "/api/v1/items/", jsonBody("POST", { title: "b1" }, bobH));
  const alice = await call(app, "/api/v1/items/", { headers: aliceH });
  assert.equal(alice.body.count, 3);
  assert.deepEqual(alice.body.data.map((i: { title: string }) => i.title), ["a3", "a2", "a1"]);
  const page = await call(app, "/api/v1/items/?skip=1&limit=1", { headers: aliceH });
  assert.deepEqual(page.body.data.map((i: { title: string }) => i.title), ["a2"]);
  assert.equal(page.body.count, 3);
  const bob = await call(app, "/api/v1/items/", { headers: bobH });
  assert.deepEqual(bob.body.data.map((i: { title: string }) => i.title), ["b1"]);
  const all = await call(app, "/api/v1/items/", { headers: adminH });
  assert.equal(all.body.count, 4);
  assert.equal((await call(app, "/api/v1/items/?limit=5000", { headers: aliceH })).status, 422);
});

Deno.test("items: another user cannot read, update or delete them (403); unknown ids are 404", async () => {
  const { db, app, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const item =
    (await call(app, "/api/v1/items/", jsonBody("POST", { title: "secret" }, aliceH))).body;
  const path = `/api/v1/items/${item.id}`;
  const forbidden = { status: 403, body: { detail: "Not enough permissions" } };
  assert.deepEqual(await call(app, path, { headers: bobH }), forbidden);
  assert.deepEqual(await call(app, path, jsonBody("PUT", { title: "hijacked" }, bobH)), forbidden);
  assert.deepEqual(await call(app, path, { method: "DELETE", headers: bobH }), forbidden);
  const [row] = await db.sql`select title from items where id = ${item.id}`;
  assert.equal(row!.title, "secret");
  assert.equal((await call(app, path, { headers: adminH })).status, 200);
  const missing = `/api/v1/items/${crypto.randomUUID()}`;
  const notFound = { status: 404, body: { detail: "Item not found" } };
  assert.deepEqual(await call(app, missing, { headers: aliceH }), notFound);
  assert.deepEqual(await call(app, missing, jsonBody("PUT", { title: "x" }, aliceH)), notFound);
  assert.deepEqual(await call(app, missing, { method: "DELETE", headers: aliceH }), notFound);
  const bad = await call(app, "/api/v1/items/123", { headers: aliceH });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ["path", "id"]);
});

Deno.test("items: update changes only title and description; delete removes", async () => {
  const { db, app, aliceH, adminH, bob } = await appWithUsers();
  await using _ = db;
  const item = (await call(
    app,
    "/api/v1/items/",
    jsonBody("POST", { title: "draft", description: "d" }, aliceH),
  )).body;
  const path = `/api/v1/items/${item.id}`;
  const updated = await call(
    app,
    path,
    jsonBody("PUT", { title: "final", owner_id: bob.user.id }, aliceH),
  );
  assert.equal(updated.status, 200);
  assert.equal(updated.body.title, "final");
  assert.equal(updated.body.description, "d");
  assert.equal(updated.body.owner_id, item.owner_id);
  const cleared = await call(app, path, jsonBody("PUT", { description: null }, adminH));
  assert.equal(cleared.body.description, null);
  const tooLong = await call(app, path, jsonBody("PUT", { title: "x".repeat(256) }, aliceH));
  assert.equal(tooLong.status, 422);
  assert.equal(tooLong.body.detail[0].type, "string_too_long");
  const empty = await call(app, "/api/v1/items/", jsonBody("POST", { title: "" }, aliceH));
  assert.equal(empty.status, 422);
  assert.deepEqual(await call(app, path, { method: "DELETE", headers: aliceH }), {
    status: 200,
    body: { message: "Item deleted successfully" },
  });
  assert.equal((await call(app, path, { headers: aliceH })).status, 404);
});

Deno.test("items and users endpoints need a token", async () => {
  const { db, app } = await appWithUsers();
  await using _ = db;
  for (
    const [method, path] of [["GET", "/api/v1/items/"], ["POST", "/api/v1/items/"], [
      "GET",
      "/api/v1/users/me",
    ]]
  ) {
    const res = await call(app, path!, { method });
    assert.deepEqual(
      res,
      { status: 401, body: { detail: "Not authenticated" } },
      `${method} ${path}`,
    );
  }
});
