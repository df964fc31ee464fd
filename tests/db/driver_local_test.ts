/**
 * `query.setLocal(name, value)` in the vendored driver (vendor/README.md): the
 * setting is sent with the statement, ahead of it in the same implicit
 * transaction, so it reaches the statement and its triggers and ends with it.
 * Checked on prepared and unprepared statements, the simple protocol,
 * pipelined queries on one connection, and failures.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";

/** One connection, so every query below shares it; ended with `db`. */
function connection(db: TestDatabase, prepare = true): postgres.Sql {
  const sql = postgres(db.url, { max: 1, prepare, onnotice: () => {} });
  db.defer(() => sql.end());
  return sql;
}

/** `tusk.test` as one statement sees it: with `value` set for it by `setLocal()`, or without. */
function setting(sql: postgres.Sql, value?: string): Promise<string | null> {
  const query = sql<{ v: string | null }[]>`select current_setting('tusk.test', true) as v`;
  return (value === undefined ? query : query.setLocal("tusk.test", value)).then(([row]) => row!.v);
}

for (const prepare of [true, false]) {
  Deno.test(`setLocal reaches its statement and ends with it (prepare: ${prepare})`, async () => {
    await using db = await migratedDatabase();
    const sql = connection(db, prepare);
    // The first use prepares the statements (prepare: true); the later ones only bind them.
    for (const value of ["one", "two", "it's $local$ \\ \u00e9"]) {
      assert.equal(await setting(sql, value), value);
      assert.notEqual(
        await setting(sql),
        value,
        "the next statement on the connection has it no more",
      );
    }
    // Pipelined on the one connection: each query sees its own value, the plain one none.
    const answers = await Promise.all([
      setting(sql, "a"),
      setting(sql, "b"),
      setting(sql),
      setting(sql, "c"),
    ]);
    assert.deepEqual(answers.map((v) => v || null), ["a", "b", null, "c"]);
  });
}

Deno.test("setLocal on the simple protocol, and with several statements", async () => {
  await using db = await migratedDatabase();
  const sql = connection(db);
  const query = "select current_setting('tusk.test', true) as v";
  const [row] = await sql.unsafe(query).setLocal("tusk.test", "x$local$y$local0$z");
  assert.equal(row!.v, "x$local$y$local0$z");
  // Two statements: two results, none of them the setting's own.
  const results = await sql.unsafe(`${query}; select 2 as two`).setLocal("tusk.test", "both");
  assert.deepEqual(JSON.parse(JSON.stringify(results)), [[{ v: "both" }], [{ two: 2 }]]);
  assert.notEqual(await setting(sql), "both");
});

Deno.test("the setting reaches a trigger, and a failure writes nothing", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const sql = connection(db);
  await db.sql.unsafe(`
    create table local_seen (value text);
    create function local_seen() returns trigger language plpgsql as $$
    begin
      insert into local_seen values (current_setting('tusk.test', true));
      return new;
    end $$;
    create trigger local_seen before insert on items for each row execute function local_seen();
  `);
  await sql`insert into items (title, owner_id) values ('seen', ${user.id})`.setLocal(
    "tusk.test",
    "from the insert",
  );
  const rows = await sql`select value from local_seen`;
  assert.deepEqual(rows.map((r) => r.value), ["from the insert"]);
  // The second row fails after the trigger ran for the first: the trigger's row goes too.
  await assert.rejects(
    sql`insert into items (title, owner_id) values ('bad', ${user.id}), (null, ${user.id})`
      .setLocal("tusk.test", "rolled back"),
    (error: postgres.PostgresError) => error.code === "23502",
  );
  // The setting fails (not a valid name): the statement never runs.
  await assert.rejects(
    sql`insert into items (title, owner_id) values ('never', ${user.id})`.setLocal(
      "not a name",
      "x",
    ),
    /unrecognized configuration parameter/,
  );
  const titles = await sql`select title from items where owner_id = ${user.id} order by title`;
  assert.deepEqual(titles.map((r) => r.title), ["seen"]);
  assert.equal((await sql`select count(*)::int as n from local_seen`)[0]!.n, 1);
  // The connection is usable, and outside any transaction.
  const [state] = await sql`select pg_current_xact_id_if_assigned() as xid`;
  assert.equal(state!.xid, null);
});

Deno.test("setLocal takes strings only", () => {
  const sql = postgres("postgres://127.0.0.1:1/none", { max: 1 });
  assert.throws(() => sql`select 1`.setLocal("tusk.test", 1 as unknown as string), TypeError);
});
