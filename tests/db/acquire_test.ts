import assert from "node:assert/strict";
import { AcquireTimeoutError } from "../../db/acquire.ts";
import { createSql } from "../../db/client.ts";
import { runInHistoryContext } from "../../db/history_context.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";

const BOUND_MS = 300;

Deno.test("a query, a transaction and a request wait at most the bound for a busy pool; nothing runs late", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const sql = createSql(db.url, { role: "api", poolSize: 1, acquireTimeoutMs: BOUND_MS });
  try {
    await sql`select 1`; // the one connection exists
    // Hold the only connection for 1.5 s.
    const holder = sql.begin((tx) => tx`select pg_sleep(1.5)`);
    await new Promise((r) => setTimeout(r, 50));

    let started = performance.now();
    await assert.rejects(() => sql`select count(*) from items`, AcquireTimeoutError);
    const waited = performance.now() - started;
    assert.ok(waited >= BOUND_MS - 20 && waited < BOUND_MS + 700, `waited ${waited} ms`);

    started = performance.now();
    await assert.rejects(
      () =>
        runInHistoryContext(
          { request_id: "late" },
          () => sql`insert into items (title, owner_id) values ('late', ${user.id})`,
        ),
      (error: Error) => error instanceof AcquireTimeoutError && error.code === "ACQUIRE_TIMEOUT",
    );
    assert.ok(performance.now() - started < BOUND_MS + 700);

    const { app } = await testApp(sql);
    started = performance.now();
    const res = await app.request("/api/v1/flags/");
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("Retry-After"), "2");
    assert.deepEqual(await res.json(), { detail: "Database unavailable, try again shortly" });
    assert.ok(performance.now() - started < BOUND_MS + 700);

    await holder;
    await new Promise((r) => setTimeout(r, 300));
    // The abandoned transaction got its connection after the answer, and ran nothing.
    const late = await db.sql`select count(*)::int as n from items where title = 'late'`;
    assert.equal(late[0]!.n, 0);
    assert.equal((await sql`select 1 as ok`)[0]!.ok, 1, "the pool works again");
  } finally {
    await sql.end();
  }
});

Deno.test("queries used as fragments are not bounded or run on their own", async () => {
  await using db = await migratedDatabase();
  const sql = createSql(db.url, { role: "api", poolSize: 1, acquireTimeoutMs: BOUND_MS });
  try {
    const where = sql`where title = ${"x"}`;
    await new Promise((r) => setTimeout(r, BOUND_MS + 100));
    const rows = await sql`select count(*)::int as n from items ${where}`;
    assert.equal(rows[0]!.n, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("queries share a busy connection, a transaction waits for a whole one, and queries behind it go when it gives up", async () => {
  await using db = await migratedDatabase();
  const sql = createSql(db.url, { role: "api", poolSize: 1, acquireTimeoutMs: BOUND_MS });
  try {
    await sql`select 1`;
    const sleeper = sql`select pg_sleep(1.2)`.then(() => "slept");
    await new Promise((r) => setTimeout(r, 50));
    // The connection is busy, but a query may still be handed over behind the sleeper.
    const pipelined = sql`select 1 as n`.then((rows) => rows[0]!.n);
    // A transaction needs the whole connection: it waits, and gives up at the bound.
    const tx = sql.begin((t) => t`select 1`);
    // Queued behind the transaction; it is let through when the transaction gives up.
    const behind = sql`select 2 as n`.then((rows) => rows[0]!.n);
    await assert.rejects(tx, AcquireTimeoutError);
    assert.deepEqual(await Promise.all([sleeper, pipelined, behind]), ["slept", 1, 2]);
  } finally {
    await sql.end();
  }
});
