/**
 * `GET /events` on one process: who sees what (the REST API's rule), replay
 * by Last-Event-ID with no gap and no duplicate, tickets, app channels, and
 * the stream's limits. (Across processes: processes_test.ts; in a browser:
 * tests/console/browser_check.ts.)
 */
import assert from "node:assert/strict";
import { appWithUsers, testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";
import { readSse } from "../_sse.ts";
import type { Sql, Tx } from "../../db/client.ts";
import { publish } from "../../services/live/channels.ts";

type App = Awaited<ReturnType<typeof appWithUsers>>["app"];

/** The row ids of stream events, in order. */
function rowIds(events: { data?: unknown }[]): string[] {
  return events.map((e) => (e.data as { row_id: string }).row_id);
}

/** Inserts an item (tracked: it takes an event id) and returns its id. */
async function insertItem(sql: Sql | Tx, title: string, ownerId: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into items (title, owner_id) values (${title}, ${ownerId}) returning id`;
  return row!.id;
}

/**
 * Runs `work` in a transaction that stays open until `commit()`: what it
 * wrote holds its event ids, invisible, meanwhile.
 */
async function heldOpen<T>(sql: Sql, work: (tx: Tx) => Promise<T>) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let ran!: (value: T) => void;
  const result = new Promise<T>((resolve) => ran = resolve);
  const done = sql.begin(async (tx) => {
    ran(await work(tx));
    await held;
  });
  return {
    result: await Promise.race([result, done.then(() => result)]),
    async commit() {
      release();
      await done;
    },
  };
}

async function stream(app: App, query: string, headers: Record<string, string> = {}) {
  const res = await app.request(`/api/v1/events${query}`, { headers });
  if (res.status !== 200) assert.fail(`${res.status}: ${await res.text()}`);
  assert.match(res.headers.get("Content-Type")!, /^text\/event-stream/);
  const sse = readSse(res);
  const first = await sse.nextBlock();
  assert.equal(first.retry, 1000, "the retry hint comes first");
  return sse;
}

async function newItem(app: App, headers: Record<string, string>, title: string) {
  const made = await call(app, "/api/v1/items/", jsonBody("POST", { title }, headers));
  assert.equal(made.status, 200);
  return made.body as { id: string; owner_id: string; created_at: string };
}

Deno.test("each reader sees what the REST API lets them see, deletes included", async () => {
  const { db, app, alice, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const a = await stream(app, "", aliceH);
  const b = await stream(app, "", bobH);
  const admin = await stream(app, "", adminH);
  try {
    const mine = await newItem(app, aliceH, "alice's");
    const theirs = await newItem(app, bobH, "bob's");
    await call(app, `/api/v1/items/${mine.id}`, jsonBody("PUT", { title: "renamed" }, aliceH));
    await call(app, `/api/v1/items/${theirs.id}`, { method: "DELETE", headers: bobH });
    await call(app, "/api/v1/users/me", jsonBody("PATCH", { full_name: "Alice A" }, aliceH));

    const seenByAlice = await a.collect(1500);
    assert.deepEqual(seenByAlice.map((e) => [e.event, (e.data as { row_id: string }).row_id]), [
      ["insert", mine.id],
      ["update", mine.id],
      ["update", alice.user.id],
    ]);
    const [insert, update, me] = seenByAlice.map((e) =>
      e.data as { row: Record<string, unknown>; table: string; changed: unknown; at: string }
    );
    // The row as GET /items/{id} shows it.
    assert.deepEqual(
      insert!.row,
      await (await app.request(`/api/v1/items/${mine.id}`, {
        headers: aliceH,
      })).json().then((now) => ({ ...now, title: "alice's" })),
    );
    assert.equal(insert!.table, "items");
    assert.equal(insert!.changed, null);
    assert.deepEqual(update!.changed, ["title"]);
    assert.match(update!.at, /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.deepEqual(Object.keys(me!.row).sort(), [
      "created_at",
      "email",
      "full_name",
      "id",
      "is_active",
      "is_superuser",
    ]);
    assert.deepEqual(me!.changed, ["full_name"]);

    assert.deepEqual(
      (await b.collect(500)).map((e) => [e.event, (e.data as { row_id: string }).row_id]),
      [["insert", theirs.id], ["delete", theirs.id]],
    );
    const all = await admin.collect(500);
    assert.equal(all.length, 5);
    const ids = all.map((e) => BigInt(e.id!));
    assert.deepEqual(ids, [...ids].sort((x, y) => (x < y ? -1 : 1)), "in id order");
    assert.ok(!JSON.stringify(all).includes("hashed_password"));
    assert.ok(!JSON.stringify(all).includes("token_version"));
  } finally {
    await Promise.all([a.close(), b.close(), admin.close()]);
  }
});

Deno.test("Last-Event-ID replays exactly the missed events, in order, then goes live", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const first = await stream(app, "?tables=items", aliceH);
  await newItem(app, aliceH, "before");
  const seen = await first.next();
  await first.close();
  const missed = [];
  for (let i = 0; i < 5; i++) missed.push((await newItem(app, aliceH, `missed ${i}`)).id);
  const again = await stream(app, "?tables=items", { ...aliceH, "Last-Event-ID": seen.id! });
  try {
    const replayed = await again.collect(1000, 5);
    assert.deepEqual(rowIds(replayed), missed);
    const live = await newItem(app, aliceH, "live");
    const next = await again.collect(800);
    assert.deepEqual(rowIds(next), [live.id]);
  } finally {
    await again.close();
  }
});

Deno.test("an event committed after a later one is delivered first, never skipped", async () => {
  const { db, app, alice, adminH } = await appWithUsers();
  await using _ = db;
  const admin = await stream(app, "?tables=items", adminH);
  try {
    // Takes an event id now, commits later.
    const slow = await heldOpen(db.sql, (tx) => insertItem(tx, "slow", alice.user.id));
    const quick = await insertItem(db.sql, "quick", alice.user.id);
    // A rolled-back write leaves a hole that must not stop the stream for good.
    await db.sql.begin(async (tx) => {
      await insertItem(tx, "undone", alice.user.id);
      throw new Error("roll back");
    }).catch(() => {});
    const early = await admin.collect(600);
    assert.deepEqual(early, [], "nothing passes the open transaction's event");
    await slow.commit();
    const after = await insertItem(db.sql, "after", alice.user.id);
    const got = await admin.collect(2000, 3);
    assert.deepEqual(rowIds(got), [slow.result, quick, after]);
  } finally {
    await admin.close();
  }
});

Deno.test("a hole with more than a read's batch of events behind it holds no stream back", async () => {
  // Polls far apart, so that the reader sees the hole and the burst behind it at once.
  const { db, app, alice, adminH } = await appWithUsers({ env: { EVENTS_POLL_MS: "1000" } });
  await using _ = db;
  const items = await stream(app, "?tables=items", adminH);
  try {
    await db.sql.begin(async (tx) => {
      // A rolled-back write's id is a hole; 1,200 messages (the reader reads 1,000 at a time)
      // commit behind it, as the writes during an outage pile up behind the ids it lost.
      await tx.savepoint(async (sp) => {
        await sp`select tusk_events.publish('burst:hole', '{}')`;
        throw new Error("roll back");
      }).catch(() => {});
      await tx`insert into tusk_events.messages (channel, payload)
        select 'burst:1', jsonb_build_object('n', n) from generate_series(1, 1200) n`;
    });
    const after = await insertItem(db.sql, "after the burst", alice.user.id);
    const got = await items.collect(5000, 1);
    assert.deepEqual(rowIds(got), [after]);
  } finally {
    await items.close();
  }
});

Deno.test("the last write, committed late with nothing after it, still arrives", async () => {
  const { db, app, alice, adminH } = await appWithUsers();
  await using _ = db;
  const admin = await stream(app, "?tables=items", adminH);
  try {
    const late = await heldOpen(db.sql, (tx) => insertItem(tx, "late", alice.user.id));
    // The sequence stops moving here: the reader must keep looking until the holder ends.
    assert.deepEqual(await admin.collect(300), []);
    await late.commit();
    const got = await admin.collect(1500, 1);
    assert.deepEqual(rowIds(got), [late.result]);
  } finally {
    await admin.close();
  }
});

Deno.test("a long transaction that does not write the log holds no stream back", async () => {
  const { db, app, alice, adminH } = await appWithUsers();
  await using _ = db;
  const admin = await stream(app, "?tables=items", adminH);
  // Has a transaction id (as any writing transaction does) and stays open throughout.
  const unrelated = await heldOpen(db.sql, (tx) => tx`select pg_current_xact_id()`);
  try {
    const slow = await heldOpen(db.sql, (tx) => insertItem(tx, "slow", alice.user.id));
    // A hole below this one, seen while the unrelated transaction runs.
    const quick = await insertItem(db.sql, "quick", alice.user.id);
    await new Promise((r) => setTimeout(r, 200));
    await slow.commit();
    const got = await admin.collect(1500, 2);
    assert.deepEqual(rowIds(got), [slow.result, quick]);
  } finally {
    await unrelated.commit();
    await admin.close();
  }
});

Deno.test("a ticket opens one stream, once, and not after it expires", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const issued = await call(app, "/api/v1/events/ticket", { method: "POST", headers: aliceH });
  assert.equal(issued.status, 200);
  assert.equal(issued.body.expires_in, 30);
  assert.match(issued.body.ticket, /^[A-Za-z0-9_-]{40,}$/);
  const sse = await stream(app, `?ticket=${issued.body.ticket}`);
  await newItem(app, aliceH, "via ticket");
  assert.equal((await sse.next()).event, "insert");
  await sse.close();
  const reused = await call(app, `/api/v1/events?ticket=${issued.body.ticket}`);
  assert.deepEqual(reused, { status: 403, body: { detail: "Invalid or expired ticket" } });

  const late = await call(app, "/api/v1/events/ticket", { method: "POST", headers: aliceH });
  await db.sql`update tusk_events.tickets set expires_at = now() - interval '1 second'`;
  assert.equal((await call(app, `/api/v1/events?ticket=${late.body.ticket}`)).status, 403);
  assert.equal((await call(app, "/api/v1/events?ticket=nonsense")).status, 403);
  assert.equal((await call(app, "/api/v1/events/ticket", { method: "POST" })).status, 401);
  // A ticket is a credential: an Idempotency-Key never replays one, it issues another.
  const keyed = { method: "POST", headers: { ...aliceH, "Idempotency-Key": "ticket-1" } };
  const [k1, k2] = [
    await call(app, "/api/v1/events/ticket", keyed),
    await call(
      app,
      "/api/v1/events/ticket",
      keyed,
    ),
  ];
  assert.equal(k2.status, 200);
  assert.notEqual(k1.body.ticket, k2.body.ticket);
});

Deno.test("a deactivated user's stream ends, and so does one whose tokens were revoked", async () => {
  const { db, app, alice, bob, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const a = await stream(app, "", aliceH);
  const b = await stream(app, "", bobH);
  try {
    const off = await call(
      app,
      `/api/v1/users/${alice.user.id}`,
      jsonBody("PATCH", { is_active: false }, adminH),
    );
    assert.equal(off.status, 200);
    assert.equal(await a.ended(4000), true, "ends within the recheck interval");
    await db.sql`update users set token_version = token_version + 1 where id = ${bob.user.id}`;
    assert.equal(await b.ended(4000), true);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("bad input gets a clear 4xx and no stream", async () => {
  const { db, app, aliceH, bob } = await appWithUsers();
  await using _ = db;
  const cases: [string, Record<string, string>, number, RegExp][] = [
    ["", {}, 401, /Not authenticated/],
    ["", { ...aliceH, "Last-Event-ID": "abc" }, 422, /last-event-id/],
    ["?last_event_id=-4", aliceH, 422, /last_event_id/],
    ["", { ...aliceH, "Last-Event-ID": "999999999" }, 422, /ahead of the event log/],
    ["?tables=items,nope", aliceH, 422, /tracked table: .*items/],
    ["?tables=items;drop", aliceH, 422, /tables/],
    ["?channels=orders", aliceH, 422, /kind:key/],
    ["?channels=orders:1", aliceH, 422, /No such kind of channel/],
    [`?channels=user:${bob.user.id}`, aliceH, 422, /may not follow/],
    ["?ticket=x", {}, 403, /Invalid or expired ticket/],
  ];
  for (const [query, headers, status, detail] of cases) {
    const res = await app.request(`/api/v1/events${query}`, { headers });
    const text = await res.text();
    assert.equal(res.status, status, `${query} ${JSON.stringify(headers)}: ${text}`);
    assert.match(text, detail);
    assert.match(res.headers.get("Content-Type")!, /json/);
  }
});

Deno.test("app channels: published in a transaction, followed by who may, replayed by id", async () => {
  const { db, app, alice, aliceH, adminH } = await appWithUsers();
  await using _ = db;
  const channel = `user:${alice.user.id}`;
  const a = await stream(app, `?channels=${channel}`, aliceH);
  try {
    await db.sql.begin((tx) => publish(tx, channel, { hello: 1 }));
    await db.sql.begin(async (tx) => {
      await publish(tx, channel, { never: true });
      throw new Error("rolled back");
    }).catch(() => {});
    await newItem(app, aliceH, "not followed: only the channel was asked for");
    const got = await a.collect(1000);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.event, "message");
    assert.deepEqual(got[0]!.data, {
      channel,
      payload: { hello: 1 },
      at: (got[0]!.data as { at: string }).at,
    });
    const id = got[0]!.id!;
    await publish(db.sql, channel, { second: 2 });
    const replay = await stream(
      app,
      `?channels=${channel}&last_event_id=${Number(id) - 1}`,
      adminH,
    );
    const replayed = await replay.collect(1000, 2);
    await replay.close();
    assert.deepEqual(replayed.map((e) => (e.data as { payload: unknown }).payload), [
      { hello: 1 },
      { second: 2 },
    ]);
    await assert.rejects(() => publish(db.sql, "no kind", {}), /not a valid name/);
  } finally {
    await a.close();
  }
});

Deno.test("a Last-Event-ID older than retention gets a reset event, then live events", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  await newItem(app, aliceH, "old");
  const [row] = await db.sql<{ top: number }[]>`
    select max(id)::int as top from tusk_history.events`;
  const top = row!.top;
  await db.sql`insert into tusk_events.pruned (log, up_to) values ('history', ${top})`;
  const sse = await stream(app, "", { ...aliceH, "Last-Event-ID": String(top - 1) });
  try {
    const reset = await sse.next();
    assert.equal(reset.event, "reset");
    assert.match((reset.data as { reason: string }).reason, /retention/);
    const made = await newItem(app, aliceH, "new");
    assert.equal(((await sse.next()).data as { row_id: string }).row_id, made.id);
  } finally {
    await sse.close();
  }
});

Deno.test("limits: streams beyond EVENTS_MAX_STREAMS get 503, a slow reader is cut off, heartbeats flow", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db, {
    env: {
      EVENTS_MAX_STREAMS: "2",
      EVENTS_MAX_BUFFER_BYTES: "4096",
      EVENTS_HEARTBEAT_SECONDS: "1",
    },
  });
  const admin = await makeUser(db.sql, { superuser: true });
  const headers = bearer(await login(app, admin.email, admin.password));
  const beating = await stream(app, "", headers);
  // Opened and never read: its queue grows with every event.
  const slow = await app.request("/api/v1/events", { headers });
  try {
    const third = await call(app, "/api/v1/events", { headers });
    assert.equal(third.status, 503);
    assert.match(third.body.detail, /Too many event streams/);
    const beat = await beating.nextBlock(2500);
    assert.deepEqual(beat.comments, ["ping"]);
    await db.sql`
      insert into items (title, description, owner_id)
      select 'bulk ' || i, repeat('x', 200), ${admin.user.id} from generate_series(1, 200) i`;
    const sse = readSse(slow);
    // What was queued before the cut-off is readable; then the stream errors out.
    assert.equal(await sse.ended(5000), true);
    // A slot is free again.
    const again = await app.request("/api/v1/events", { headers });
    assert.equal(again.status, 200);
    await again.body!.cancel();
  } finally {
    await beating.close();
    await slow.body?.cancel().catch(() => {});
  }
});
