/**
 * Transactions in the vendored driver (vendor/postgres/src/index.js, changed
 * from the published package): a transaction's queries follow BEGIN without
 * waiting for its answer, and a callback that returns its queries at once
 * gets COMMIT sent with them. Counted in socket writes; checked for what must
 * not change: a failure rolls everything back, and the pool's other queries
 * never land in the transaction. A tracked write outside a transaction needs
 * none: its context goes with it (`setLocal()`, driver_local_test.ts).
 */
import assert from "node:assert/strict";
import net from "node:net";
import postgres from "postgres";
import { createSql } from "../../db/client.ts";
import { listEvents } from "../../db/history.ts";
import { runInRootContext } from "../../db/history_context.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";

/** The socket writes `fn` makes (every connection's), their bytes as text, and what it returned. */
async function countWrites<T>(
  fn: () => Promise<T>,
): Promise<{ writes: number; sent: string; result: T }> {
  const write = net.Socket.prototype.write;
  let writes = 0;
  let sent = "";
  net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
    writes++;
    sent += new TextDecoder().decode(args[0] as Uint8Array);
    return Reflect.apply(write, this, args);
  } as typeof write;
  try {
    const result = await fn();
    return { writes, sent, result };
  } finally {
    net.Socket.prototype.write = write;
  }
}

/**
 * A pool on `db`, ended with it, already connected (so counting starts after
 * the startup exchange): one connection unless `poolSize` says more.
 */
async function pool(db: TestDatabase, poolSize = 1): Promise<postgres.Sql> {
  const sql = createSql(db.url, { role: "test", poolSize });
  db.defer(() => sql.end());
  await sql`select 1`;
  return sql;
}

Deno.test("a transaction whose callback returns its queries is one write: BEGIN, them, COMMIT", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const sql = await pool(db);
  // Twice: the first time the statements are prepared on the connection first.
  for (const round of [1, 2]) {
    const { writes, result } = await countWrites(() =>
      sql.begin((tx) => [
        tx`insert into items (title, owner_id) values (${`a${round}`}, ${user.id}) returning title`,
        tx`insert into items (title, owner_id) values (${`b${round}`}, ${user.id}) returning title`,
      ])
    );
    assert.deepEqual(result.map((rows) => rows[0]!.title), [`a${round}`, `b${round}`]);
    if (round === 2) assert.equal(writes, 1);
  }
  const titles = await sql`select title from items where owner_id = ${user.id} order by title`;
  assert.deepEqual(titles.map((r) => r.title), ["a1", "a2", "b1", "b2"]);
  // An async callback still gets its first query sent with BEGIN, and COMMIT after it answers.
  for (const round of [1, 2]) {
    const { writes } = await countWrites(() =>
      sql.begin(async (tx) => {
        await tx`update items set description = ${`r${round}`} where owner_id = ${user.id}`;
      })
    );
    if (round === 2) assert.equal(writes, 2);
  }
});

Deno.test("a failing query in a pipelined transaction rolls it all back and keeps Postgres's error", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const sql = await pool(db);
  const [item] = await sql`
    insert into items (title, owner_id) values ('kept', ${user.id}) returning id`;
  await assert.rejects(
    sql.begin((tx) => [
      tx`insert into items (title, owner_id) values ('lost', ${user.id})`,
      tx`insert into items (id, title, owner_id) values (${item!.id}, 'duplicate', ${user.id})`,
    ]),
    (error: postgres.PostgresError) => error.code === "23505",
  );
  const titles = await sql`select title from items where owner_id = ${user.id}`;
  assert.deepEqual(titles.map((r) => r.title), ["kept"]);
  // The connection is back in the pool, outside any transaction: what it writes next is
  // committed on its own, and seen from another connection.
  await sql`insert into items (title, owner_id) values ('after', ${user.id})`;
  const seen = await db.sql`select title from items where owner_id = ${user.id} order by title`;
  assert.deepEqual(seen.map((r) => r.title), ["after", "kept"]);
});

Deno.test("the pool's queries never land inside a pipelined transaction", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const sql = await pool(db, 3);
  const writes = Array.from({ length: 60 }, (_, i) =>
    sql.begin((tx) => [
      tx`insert into items (title, owner_id) values (${`t${i}`}, ${user.id})`,
      tx`select pg_current_xact_id_if_assigned() as xid`,
    ]));
  // Reads on the same three connections, pipelined by the pool while the transactions run:
  // one that landed in a transaction after its insert would see that transaction's id.
  const reads = Array.from(
    { length: 200 },
    () => sql`select pg_current_xact_id_if_assigned()::text as xid`,
  );
  const [written, read] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
  assert.ok(written.every((results) => results[1]![0]!.xid !== null), "each in its transaction");
  assert.deepEqual(read.filter(([row]) => row!.xid !== null), []);
  const [count] = await sql`select count(*)::int as n from items where owner_id = ${user.id}`;
  assert.equal(count!.n, 60);
});

Deno.test("a tracked write on the pool is one statement, one round trip, and its event carries the context", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const sql = await pool(db);
  const write = () =>
    runInRootContext(
      { request_id: "req-pipelined", user_id: user.id },
      () => sql`insert into items (title, owner_id) values ('tracked', ${user.id}) returning id`,
      { sql },
    );
  await write();
  const { writes, sent, result: [item] } = await countWrites(write);
  assert.equal(writes, 1);
  // No transaction of its own: the context rides with the statement (setLocal), prepared once.
  assert.doesNotMatch(sent, /begin|commit/i);
  assert.match(sent, /tusk\.history_context/);
  const { data } = await listEvents(sql, { table: "items", row_id: item!.id }, {
    skip: 0,
    limit: 10,
    order: "asc",
  });
  assert.equal(data.length, 1);
  assert.equal(data[0]!.context!.request_id, "req-pipelined");
  assert.equal(data[0]!.context!.user_id, user.id);
});
