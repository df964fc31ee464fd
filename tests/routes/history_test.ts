import assert from "node:assert/strict";
import { appWithUsers } from "../_app.ts";
import { bearer, call, jsonBody, login } from "../_factories.ts";

Deno.test("an API change is recorded with the user, the route and the response's request id", async () => {
  const { db, app, alice, aliceH } = await appWithUsers();
  await using _ = db;
  const res = await app.request("/api/v1/items/", jsonBody("POST", { title: "Tracked" }, aliceH));
  assert.equal(res.status, 200);
  const item = await res.json();
  const requestId = res.headers.get("X-Request-Id");
  const patched = await app.request(
    `/api/v1/items/${item.id}`,
    jsonBody("PUT", { description: "more" }, { ...aliceH, "X-Request-Id": "client-chosen-42" }),
  );
  await patched.body?.cancel();
  const history = await call(app, `/api/v1/items/${item.id}/history`, { headers: aliceH });
  assert.equal(history.status, 200);
  assert.equal(history.body.count, 2);
  const [insert, update] = history.body.data;
  assert.equal(insert.op, "insert");
  assert.equal(insert.table, "items");
  assert.equal(insert.row_id, item.id);
  assert.equal(insert.label, "items.insert");
  assert.equal(insert.data.title, "Tracked");
  assert.equal(insert.diff, null);
  assert.equal(insert.context.user_id, alice.user.id);
  assert.equal(insert.context.request_id, requestId);
  assert.equal(insert.context.method, "POST");
  assert.match(insert.context.route, /^\/api\/v1\/items/);
  assert.ok(!("job_id" in insert.context), "absent keys are omitted");
  assert.deepEqual(update.diff, { description: [null, "more"] });
  assert.equal(update.context.request_id, "client-chosen-42");
  assert.match(update.at, /^\d{4}-\d\d-\d\dT/);
  assert.ok(BigInt(update.id) > BigInt(insert.id));
});

Deno.test("item history: owner or superuser; another user gets 403, a missing item 404, a bad id 422", async () => {
  const { db, app, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const item = await call(app, "/api/v1/items/", jsonBody("POST", { title: "Private" }, aliceH));
  const path = `/api/v1/items/${item.body.id}/history`;
  assert.equal((await call(app, path, { headers: bobH })).status, 403);
  assert.deepEqual((await call(app, path, { headers: bobH })).body, {
    detail: "Not enough permissions",
  });
  assert.equal((await call(app, path, { headers: adminH })).body.count, 1);
  const missing = await call(app, `/api/v1/items/${crypto.randomUUID()}/history`, {
    headers: aliceH,
  });
  assert.deepEqual(missing, { status: 404, body: { detail: "Item not found" } });
  assert.equal((await call(app, "/api/v1/items/nope/history", { headers: aliceH })).status, 422);
  assert.equal((await call(app, path)).status, 401);
  // Deleted: the owner gets 404 like GET /items/{id}; a superuser still sees its history.
  await call(app, `/api/v1/items/${item.body.id}`, { method: "DELETE", headers: aliceH });
  assert.equal((await call(app, path, { headers: aliceH })).status, 404);
  const after = await call(app, path, { headers: adminH });
  assert.deepEqual(after.body.data.map((e: { op: string }) => e.op), ["insert", "delete"]);
});

Deno.test("user history: yourself or a superuser; never a password hash", async () => {
  const { db, app, alice, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  await call(app, "/api/v1/users/me", jsonBody("PATCH", { full_name: "Alice A" }, aliceH));
  await call(
    app,
    "/api/v1/users/me/password",
    jsonBody(
      "PATCH",
      { current_password: alice.password, new_password: "another password" },
      aliceH,
    ),
  );
  const path = `/api/v1/users/${alice.user.id}/history`;
  const admin = await call(app, path, { headers: adminH });
  assert.equal(admin.status, 200);
  assert.deepEqual(admin.body.data.map((e: { op: string }) => e.op), ["insert", "update"]);
  assert.deepEqual(admin.body.data[1].diff, { full_name: [null, "Alice A"] });
  assert.doesNotMatch(JSON.stringify(admin.body), /hashed_password|token_version|argon2/);
  assert.equal((await call(app, path, { headers: bobH })).status, 403);
  const fresh = bearer(await login(app, alice.email, "another password"));
  assert.equal((await call(app, path, { headers: fresh })).body.count, 2);
  const nobody = await call(app, `/api/v1/users/${crypto.randomUUID()}/history`, {
    headers: adminH,
  });
  assert.deepEqual(nobody, { status: 404, body: { detail: "User not found" } });
});

Deno.test("GET /history/: superusers only, newest first, with filters; bad filters are 422s", async () => {
  const { db, app, alice, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const a = await app.request("/api/v1/items/", jsonBody("POST", { title: "A" }, aliceH));
  const requestId = a.headers.get("X-Request-Id")!;
  const itemA = await a.json();
  await call(app, "/api/v1/items/", jsonBody("POST", { title: "B" }, bobH));
  await call(app, `/api/v1/items/${itemA.id}`, jsonBody("PUT", { title: "A2" }, aliceH));
  assert.equal((await call(app, "/api/v1/history/", { headers: aliceH })).status, 403);

  const all = await call(app, "/api/v1/history/?table=items", { headers: adminH });
  assert.equal(all.status, 200);
  assert.equal(all.body.count, 3);
  assert.deepEqual(all.body.data.map((e: { label: string }) => e.label), [
    "items.update",
    "items.insert",
    "items.insert",
  ]);
  const q = (query: string) => call(app, `/api/v1/history?${query}`, { headers: adminH });
  assert.equal((await q(`user_id=${alice.user.id}`)).body.count, 2);
  assert.equal((await q(`request_id=${requestId}`)).body.data[0].row_id, itemA.id);
  // A context filter with event filters, newest first, paged: the same answers as any listing.
  const byAlice = (query: string) => q(`user_id=${alice.user.id}&${query}`);
  assert.equal((await byAlice("op=update")).body.count, 1);
  assert.equal((await byAlice(`table=items&row_id=${itemA.id}`)).body.count, 2);
  const first = (await byAlice("limit=1")).body;
  assert.deepEqual([first.count, first.data.map((e: { op: string }) => e.op)], [2, ["update"]]);
  const second = (await byAlice("skip=1&limit=1")).body;
  assert.deepEqual(second.data.map((e: { op: string }) => e.op), ["insert"]);
  assert.equal((await byAlice("op=update")).body.data[0].context.user_id, alice.user.id);
  assert.equal((await q(`table=items&row_id=${itemA.id}&op=update`)).body.count, 1);
  assert.equal((await q("label=items.insert&limit=1")).body.data.length, 1);
  assert.equal((await q("label=items.insert&limit=1")).body.count, 2);
  const future = new Date(Date.now() + 3600_000).toISOString();
  assert.equal((await q(`since=${encodeURIComponent(future)}`)).body.count, 0);
  assert.ok((await q(`until=${encodeURIComponent(future)}`)).body.count >= 3);
  assert.ok((await q("since=2000-01-01")).body.count >= 3);

  for (
    const [query, field] of [
      ["table=nope", "table"],
      ["since=yesterday", "since"],
      ["user_id=42", "user_id"],
      ["job_id=x", "job_id"],
      ["op=upsert", "op"],
      ["limit=5000", "limit"],
    ]
  ) {
    const res = await q(query!);
    assert.equal(res.status, 422, query);
    assert.deepEqual(res.body.detail[0].loc, ["query", field], query);
  }
});

Deno.test("revert an update, a delete and an insert; each revert is an event naming the one it reverts", async () => {
  const { db, app, aliceH, adminH } = await appWithUsers();
  await using _ = db;
  const item = (await call(app, "/api/v1/items/", jsonBody("POST", { title: "v1" }, aliceH))).body;
  await call(app, `/api/v1/items/${item.id}`, jsonBody("PUT", { title: "v2" }, aliceH));
  const events = async () =>
    (await call(app, `/api/v1/items/${item.id}/history`, { headers: adminH })).body.data;
  const revert = (id: string, query = "") =>
    call(app, `/api/v1/history/${id}/revert${query}`, { method: "POST", headers: adminH });

  const [insert, update] = await events();
  const undone = await revert(update.id);
  assert.equal(undone.status, 200, JSON.stringify(undone.body));
  assert.equal(undone.body.label, "revert");
  assert.deepEqual(undone.body.diff, { title: ["v2", "v1"] });
  assert.equal(undone.body.context.reverted_event, update.id);
  assert.ok(undone.body.context.user_id, "the operator who reverted");
  assert.equal((await call(app, `/api/v1/items/${item.id}`, { headers: aliceH })).body.title, "v1");

  // The row has changed since `update`: its new title is v1, not v2.
  const stale = await revert(update.id);
  assert.deepEqual(stale, {
    status: 409,
    body: { detail: "The row has changed since this event" },
  });
  await call(app, `/api/v1/items/${item.id}`, jsonBody("PUT", { title: "v3" }, aliceH));
  const forced = await revert(update.id, "?force=true");
  assert.equal(forced.status, 200);
  assert.equal((await call(app, `/api/v1/items/${item.id}`, { headers: aliceH })).body.title, "v1");

  await call(app, `/api/v1/items/${item.id}`, { method: "DELETE", headers: aliceH });
  const deleted = (await events()).at(-1);
  assert.equal(deleted.op, "delete");
  const restored = await revert(deleted.id);
  assert.equal(restored.status, 200);
  assert.equal(restored.body.op, "insert");
  const back = await call(app, `/api/v1/items/${item.id}`, { headers: aliceH });
  assert.equal(back.status, 200);
  assert.equal(back.body.created_at, item.created_at, "every stored column comes back");

  const gone = await revert(insert.id, "?force=true");
  assert.equal(gone.status, 200);
  assert.equal(gone.body.op, "delete");
  assert.equal((await call(app, `/api/v1/items/${item.id}`, { headers: aliceH })).status, 404);
  assert.deepEqual(await revert(insert.id), {
    status: 409,
    body: { detail: "Nothing to revert: the row no longer exists" },
  });
});

Deno.test("revert refusals: unknown event 404, bad id 422, broken constraint 409, untracked table 409", async () => {
  const { db, app, bob, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const revert = (id: string) =>
    call(app, `/api/v1/history/${id}/revert`, { method: "POST", headers: adminH });
  assert.deepEqual(await revert("999999"), {
    status: 404,
    body: { detail: "History event not found" },
  });
  assert.equal((await revert("abc")).status, 422);
  assert.equal((await revert("99999999999999999999999")).status, 422);
  assert.equal(
    (await call(app, "/api/v1/history/1/revert", { method: "POST", headers: bobH })).status,
    403,
  );

  const item = (await call(app, "/api/v1/items/", jsonBody("POST", { title: "x" }, bobH))).body;
  await call(app, `/api/v1/users/${bob.user.id}`, { method: "DELETE", headers: adminH });
  const itemDelete = (await call(app, `/api/v1/items/${item.id}/history`, { headers: adminH }))
    .body.data.at(-1);
  assert.equal(itemDelete.op, "delete", "the cascade is recorded too");
  const orphan = await revert(itemDelete.id);
  assert.equal(orphan.status, 409);
  assert.match(orphan.body.detail, /^The revert would break a constraint \(items_owner_id_fkey\)/);

  // The user's own delete cannot come back: the password hash is not in history.
  const userDelete = (await call(app, `/api/v1/users/${bob.user.id}/history`, { headers: adminH }))
    .body.data.at(-1);
  const noHash = await revert(userDelete.id);
  assert.equal(noHash.status, 409);
  assert.match(noHash.body.detail, /required column would be empty/);

  await db.sql`select tusk_history.untrack('items')`;
  const untracked = await revert(itemDelete.id);
  assert.deepEqual(untracked, {
    status: 409,
    body: { detail: "The table items is no longer tracked, so its events cannot be reverted" },
  });
  const stillListed = await call(app, "/api/v1/history/?table=items", { headers: adminH });
  assert.equal(stillListed.status, 200, "its history stays readable");
  assert.ok(stillListed.body.count > 0);
  const never = await call(app, "/api/v1/history/?table=pg_class", { headers: adminH });
  assert.equal(never.status, 422);
  // Whatever else the project tracks (your own tables too), in the order the API lists them.
  const tracked = await db.sql<{ table_name: string }[]>`
    select table_name from tusk_history.tracked order by table_name`;
  assert.deepEqual(tracked.map((t) => t.table_name).filter((t) => t === "items"), []);
  assert.equal(
    never.body.detail[0].msg,
    `Input should be a tracked table: ${tracked.map((t) => t.table_name).join(", ")}`,
  );
});

Deno.test("reverts of users keep the account rules: the last superuser stays, and lost rights revoke tokens", async () => {
  const { db, app, admin, alice, adminH } = await appWithUsers();
  await using _ = db;
  const revert = (id: string, force = false) =>
    call(app, `/api/v1/history/${id}/revert${force ? "?force=true" : ""}`, {
      method: "POST",
      headers: adminH,
    });
  const userEvents = async (id: string) =>
    (await call(app, `/api/v1/users/${id}/history`, { headers: adminH })).body.data;

  // The only superuser's insert: reverting it would delete them (DELETE /users/{id} says 403).
  const [adminInsert] = await userEvents(admin.user.id);
  const last = await revert(adminInsert.id, true);
  assert.equal(last.status, 409);
  assert.match(last.body.detail, /^The change would leave no active superuser/);
  assert.equal((await call(app, "/api/v1/users/me", { headers: adminH })).status, 200);

  // Alice is promoted, logs in as a superuser, then the promotion is reverted: she is demoted
  // and her superuser token dies with it, as a demotion through the API does.
  await call(
    app,
    `/api/v1/users/${alice.user.id}`,
    jsonBody("PATCH", { is_superuser: true }, adminH),
  );
  const promoted = bearer(await login(app, alice.email, alice.password));
  const promotion = (await userEvents(alice.user.id)).at(-1);
  assert.deepEqual(promotion.diff, { is_superuser: [false, true] });
  const demoted = await revert(promotion.id);
  assert.equal(demoted.status, 200, JSON.stringify(demoted.body));
  assert.deepEqual(demoted.body.diff, { is_superuser: [true, false] });
  assert.equal((await call(app, "/api/v1/users/me", { headers: promoted })).status, 403);

  // Alice, promoted again, demotes the admin; reverting her promotion would leave no superuser.
  await call(
    app,
    `/api/v1/users/${alice.user.id}`,
    jsonBody("PATCH", { is_superuser: true }, adminH),
  );
  const aliceH = bearer(await login(app, alice.email, alice.password));
  const again = (await userEvents(alice.user.id)).at(-1);
  const demote = await call(
    app,
    `/api/v1/users/${admin.user.id}`,
    jsonBody("PATCH", { is_superuser: false }, aliceH),
  );
  assert.equal(demote.status, 200);
  const refused = await call(app, `/api/v1/history/${again.id}/revert`, {
    method: "POST",
    headers: aliceH,
  });
  assert.equal(refused.status, 409);
  assert.match(refused.body.detail, /no active superuser/);
  const [row] = await db.sql`select is_superuser from users where id = ${alice.user.id}`;
  assert.equal(row!.is_superuser, true, "nothing changed");
});
