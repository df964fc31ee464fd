import assert from "node:assert/strict";
import postgres from "postgres";
import { createSql } from "../../db/client.ts";
import { listEvents } from "../../db/history.ts";
import { inAmbientTransaction } from "../../db/ambient.ts";
import {
  runInHistoryContext,
  runInRootContext,
  withHistoryContext,
} from "../../db/history_context.ts";
import { pruneHistory } from "../../jobs/maintenance.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";

async function events(sql: postgres.Sql, table?: string) {
  return (await listEvents(sql, { table }, { skip: 0, limit: 1000, order: "asc" })).data;
}

Deno.test("a plain SQL change is recorded with a null context, the database user and application_name", async () => {
  await using db = await migratedDatabase();
  // A bare postgres.js client, as psql or another program would connect: no Tusk context.
  const raw = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "psql" },
  });
  try {
    const { user } = await makeUser(db.sql);
    await raw`insert into items (title, owner_id) values ('raw', ${user.id})`;
  } finally {
    await raw.end();
  }
  const [event] = await events(db.sql, "items");
  assert.equal(event!.op, "insert");
  assert.equal(event!.label, "items.insert");
  assert.equal(event!.context, null);
  assert.equal(event!.application_name, "psql");
  assert.equal(typeof event!.db_user, "string");
  assert.equal(event!.data.title, "raw");
});

Deno.test("two updates in one transaction: two events in order, with distinct times, and exact diffs", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const [item] = await db
    .sql`insert into items (title, owner_id) values ('a', ${user.id}) returning id`;
  await db.sql.begin(async (tx) => {
    await tx`update items set title = 'b' where id = ${item!.id}`;
    await tx`update items set title = 'c', description = 'd' where id = ${item!.id}`;
    await tx`update items set title = 'c' where id = ${item!.id}`; // changes nothing: no event
  });
  const updates = (await events(db.sql, "items")).filter((e) => e.op === "update");
  assert.equal(updates.length, 2);
  assert.deepEqual(updates.map((e) => e.diff), [
    { title: ["a", "b"] },
    { title: ["b", "c"], description: [null, "d"] },
  ]);
  assert.ok(BigInt(updates[0]!.id) < BigInt(updates[1]!.id));
  // Compared in Postgres's microseconds: two updates can fall in one JavaScript millisecond.
  const [times] = await db.sql`
    select (select at from tusk_history.events where id = ${updates[0]!.id}) <
      (select at from tusk_history.events where id = ${updates[1]!.id}) as ordered`;
  assert.ok(times!.ordered, "clock_timestamp(), not the transaction's start");
});

Deno.test("excluded columns never reach history, not even as diffs; changing only them records nothing", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  await db.sql`update users set hashed_password = 'x', token_version = token_version + 1
    where id = ${user.id}`;
  await db.sql`update users set full_name = 'New', hashed_password = 'y' where id = ${user.id}`;
  await db.sql`delete from users where id = ${user.id}`;
  const history = await events(db.sql, "users");
  assert.deepEqual(history.map((e) => e.op), ["insert", "update", "delete"]);
  assert.deepEqual(history[1]!.diff, { full_name: [null, "New"] });
  const stored = JSON.stringify(
    await db.sql`select data, diff from tusk_history.events where table_name = 'users'`,
  );
  assert.doesNotMatch(stored, /hashed_password|token_version|\$argon2/);
});

Deno.test("context: writes on the pool and in transactions carry it; nested blocks merge and relabel", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  await runInHistoryContext({ request_id: "req-1", user_id: user.id }, async () => {
    const [item] = await db.sql`
      insert into items (title, owner_id) values ('pool', ${user.id}) returning id`;
    await db.sql.begin(async (tx) => {
      await tx`update items set title = 'tx' where id = ${item!.id}`;
    });
    await withHistoryContext({ label: "items.import", ticket: "OPS-12" }, async (tx) => {
      await tx`update items set description = 'imported' where id = ${item!.id}`;
      await withHistoryContext({ ticket: "OPS-13", step: 2 }, async (inner) => {
        await inner`update items set title = 'nested' where id = ${item!.id}`;
      });
    });
  }, { sql: db.sql });
  const [insert, update, imported, nested] = await events(db.sql, "items");
  assert.equal(insert!.context!.request_id, "req-1");
  assert.equal(insert!.context!.user_id, user.id);
  assert.equal(update!.context!.id, insert!.context!.id, "one context for the request");
  assert.equal(imported!.label, "items.import");
  assert.equal(imported!.context!.ticket, "OPS-12");
  assert.equal(imported!.context!.request_id, "req-1", "merged over the request's");
  assert.notEqual(imported!.context!.id, insert!.context!.id);
  assert.deepEqual(
    [nested!.label, nested!.context!.ticket, nested!.context!.step],
    ["items.import", "OPS-13", 2],
  );
});

Deno.test("a context is saved once: one row, however many rows and transactions it writes", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const saved = await runInHistoryContext({ request_id: "req-once" }, async () => {
    // Two autocommit writes (two transactions), then three rows in one transaction.
    await db.sql`insert into items (title, owner_id) values ('one', ${user.id})`;
    await db.sql`insert into items (title, owner_id) values ('two', ${user.id})`;
    return await db.sql.begin(async (tx) => {
      await tx`insert into items (title, owner_id)
        select 'row ' || n, ${user.id} from generate_series(1, 3) n`;
      // What the trigger checks before saving the context again in this transaction.
      const [row] = await tx`select current_setting('tusk.history_saved', true) as id`;
      return row!.id as string;
    });
  }, { sql: db.sql });
  const inserts = await events(db.sql, "items");
  assert.equal(inserts.length, 5);
  assert.equal(new Set(inserts.map((e) => e.context!.id)).size, 1, "one context for all five");
  assert.equal(saved, inserts[0]!.context!.id, "the transaction marks its context saved");
  assert.deepEqual(inserts.map((e) => e.op), ["insert", "insert", "insert", "insert", "insert"]);
  const contexts = await db.sql`select id from tusk_history.contexts
    where metadata ->> 'request_id' = 'req-once'`;
  assert.deepEqual(contexts.map((c) => c.id), [saved]);
});

Deno.test("a root context inherits nothing: no metadata, no transaction, no ambient transaction", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  // What a request found when a leaked context was current: a user, a job, an open transaction.
  await assert.rejects(
    () =>
      runInHistoryContext(
        { user_id: user.id, job_id: "leaked" },
        () =>
          db.sql.begin((tx) =>
            inAmbientTransaction(tx, async () => {
              await runInRootContext({ request_id: "root-1" }, async () => {
                await db.sql`insert into items (title, owner_id) values ('root', ${user.id})`;
                // Its own transaction, not a savepoint of the one outside.
                await withHistoryContext({ label: "items.rooted" }, async (inner) => {
                  await inner`update items set description = 'x' where title = 'root'`;
                });
              }, { sql: db.sql });
              throw new Error("the outer transaction rolls back");
            })
          ),
        { sql: db.sql },
      ),
    /the outer transaction rolls back/,
  );
  const [insert, update] = await events(db.sql, "items");
  assert.ok(insert && update, "the root context's writes committed on their own");
  assert.deepEqual(Object.keys(insert.context!).sort(), ["id", "request_id"]);
  assert.equal(insert.context!.request_id, "root-1");
  assert.equal(update.label, "items.rooted");
  assert.equal(update.context!.user_id, undefined);
  assert.equal(update.context!.job_id, undefined);
});

Deno.test("a rolled-back transaction leaves no event and no context", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const before = (await events(db.sql)).length;
  await assert.rejects(() =>
    runInHistoryContext({ request_id: "doomed" }, () =>
      db.sql.begin(async (tx) => {
        await tx`insert into items (title, owner_id) values ('gone', ${user.id})`;
        throw new Error("roll back");
      }))
  );
  assert.equal((await events(db.sql)).length, before);
  const contexts = await db.sql`select * from tusk_history.contexts
    where metadata ->> 'request_id' = 'doomed'`;
  assert.equal(contexts.length, 0);
});

Deno.test("track() options: excluded columns and operations; untrack() stops recording; bad calls are refused", async () => {
  await using db = await migratedDatabase();
  await db.sql`create table history_test_notes (id int primary key, body text, secret text)`;
  await db
    .sql`select tusk_history.track('history_test_notes', exclude => '{secret}', ops => '{insert,delete}')`;
  await db.sql`insert into history_test_notes values (1, 'a', 's')`;
  await db.sql`update history_test_notes set body = 'b'`;
  await db.sql`delete from history_test_notes`;
  const history = await events(db.sql, "history_test_notes");
  assert.deepEqual(history.map((e) => e.op), ["insert", "delete"]);
  assert.deepEqual(history[0]!.data, { id: 1, body: "a" });
  assert.equal(history[0]!.row_id, "1");
  await db.sql`select tusk_history.untrack('history_test_notes')`;
  await db.sql`insert into history_test_notes values (2, 'c', 's')`;
  assert.equal((await events(db.sql, "history_test_notes")).length, 2);
  await db.sql`create table pairs (a int, b int, primary key (a, b))`;
  await assert.rejects(
    () => db.sql`select tusk_history.track('pairs')`,
    /needs a single-column primary key/,
  );
  await assert.rejects(
    () => db.sql`select tusk_history.track('history_test_notes', exclude => '{nope}')`,
    /no column named nope/,
  );
});

Deno.test("retention deletes only events older than the limit, and contexts left without events", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  await runInHistoryContext(
    { request_id: "old" },
    () => db.sql`insert into items (title, owner_id) values ('old', ${user.id})`,
  );
  await runInHistoryContext(
    { request_id: "new" },
    () => db.sql`insert into items (title, owner_id) values ('new', ${user.id})`,
  );
  await db.sql`update tusk_history.events set at = now() - interval '40 days'
    where data ->> 'title' = 'old'`;
  await db.sql`update tusk_history.contexts set created_at = now() - interval '40 days'
    where metadata ->> 'request_id' = 'old'`;
  const pruned = await pruneHistory(db.sql, 30, new AbortController().signal);
  assert.deepEqual(pruned, { events: 1, contexts: 1 });
  const left = await events(db.sql, "items");
  assert.deepEqual(left.map((e) => e.data.title), ["new"]);
  const contexts = await db.sql`select metadata ->> 'request_id' as r from tusk_history.contexts
    where metadata ? 'request_id'`;
  assert.deepEqual(contexts.map((c) => c.r), ["new"]);
});

Deno.test("a failing write in a context keeps Postgres's error and leaves no transaction open", async () => {
  await using db = await migratedDatabase();
  const sql = createSql(db.url, { role: "test", poolSize: 1 });
  try {
    const { user } = await makeUser(db.sql);
    await runInHistoryContext({ request_id: "fails" }, async () => {
      await assert.rejects(
        () => sql`insert into items (title, owner_id) values ('x', ${crypto.randomUUID()})`,
        (error: { code?: string }) => error.code === "23503",
      );
      await sql`insert into items (title, owner_id) values ('ok', ${user.id})`;
    });
    const [open] = await sql`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and state like 'idle in transaction%'`;
    assert.equal(open!.n, 0);
  } finally {
    await sql.end();
  }
  const history = await events(db.sql, "items");
  assert.deepEqual(history.map((e) => [e.data.title, e.context?.request_id]), [["ok", "fails"]]);
});

Deno.test("context metadata reaches the trigger byte for byte, whatever quotes or dollar tags it holds", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  // It travels as text beside BEGIN: quotes, backslashes, dollar tags and SQL must stay data.
  const tricky = `it's $$ $tusk_$ $tusk_0123456789ab$ \\' '); drop table items; -- ünïcode ✓`;
  await runInHistoryContext({ request_id: tricky, reason: 'a\nb\t"c"' }, async () => {
    await db.sql`insert into items (title, owner_id) values ('tricky', ${user.id})`;
    await db.sql.begin("isolation level repeatable read", async (tx) => {
      await tx`update items set title = 'still tricky' where title = 'tricky'`;
    });
  }, { sql: db.sql });
  const history = await events(db.sql, "items");
  assert.equal(history.length, 2);
  for (const event of history) {
    assert.equal(event.context!.request_id, tricky);
    assert.equal(event.context!.reason, 'a\nb\t"c"');
  }
  assert.equal(history[0]!.context!.id, history[1]!.context!.id);
});
