import assert from "node:assert/strict";
import { join } from "node:path";
import { createSql } from "../../db/client.ts";
import {
  inspectMigrations,
  loadMigrations,
  migrateDown,
  migrateRedo,
  migrateUp,
  MigrationError,
  migrationStatus,
  newMigration,
} from "../../db/migrate/mod.ts";
import { emptyDatabase } from "../_db.ts";

/** A temp folder of migration files; removed on dispose. */
async function migrationsDir(files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "tusk-migrations-" });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  return {
    dir,
    write: (name: string, text: string) => Deno.writeTextFile(join(dir, name), text),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const BASIC = {
  "0001_things.sql": "create table things (id int primary key);",
  "0001_things.down.sql": "drop table things;",
  "0002_more.sql":
    "alter table things add column name text;\ncreate index things_name on things (name);",
  "0002_more.down.sql": "alter table things drop column name;",
};

async function tableExists(sql: ReturnType<typeof createSql>, name: string): Promise<boolean> {
  const [row] = await sql`select to_regclass(${name}) is not null as ok`;
  return row!.ok;
}

Deno.test("migrateUp() applies pending migrations in order and records them", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  const migrations = await loadMigrations(files.dir);
  const applied = await migrateUp(db.sql, migrations);
  assert.deepEqual(applied.map((m) => m.file), ["0001_things.sql", "0002_more.sql"]);
  const rows = await db
    .sql`select version, name, checksum, duration_ms from tusk_migrations order by version`;
  assert.deepEqual(rows.map((r) => [r.version, r.name, r.checksum]), [
    [1, "things", migrations[0]!.checksum],
    [2, "more", migrations[1]!.checksum],
  ]);
  assert.deepEqual(await migrateUp(db.sql, migrations), [], "a second run applies nothing");
});

Deno.test("five concurrent migrators apply each migration exactly once", async () => {
  await using db = await emptyDatabase();
  // A slow first migration widens the race window.
  await using files = await migrationsDir({
    "0001_slow.sql": "select pg_sleep(0.3); create table counter (n int);",
    "0002_insert.sql": "insert into counter values (1);",
    "0003_insert_again.sql": "insert into counter values (2);",
  });
  const migrations = await loadMigrations(files.dir);
  const pools = Array.from({ length: 5 }, () => createSql(db.url, { role: "test", poolSize: 1 }));
  try {
    const results = await Promise.all(pools.map((sql) => migrateUp(sql, migrations)));
    const total = results.reduce((n, r) => n + r.length, 0);
    assert.equal(total, 3, "each migration is applied by exactly one migrator");
  } finally {
    await Promise.all(pools.map((sql) => sql.end()));
  }
  const rows = await db.sql`select n from counter order by n`;
  assert.deepEqual(rows.map((r) => r.n), [1, 2]);
  const [count] = await db.sql`select count(*)::int as n from tusk_migrations`;
  assert.equal(count!.n, 3);
});

Deno.test("a failing migration leaves no schema change and no record", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir({
    "0001_ok.sql": "create table ok (id int);",
    "0002_broken.sql": "create table half (id int);\ncreate tabel oops (id int);",
  });
  const migrations = await loadMigrations(files.dir);
  await assert.rejects(
    () => migrateUp(db.sql, migrations),
    (error: Error) => {
      assert.ok(error instanceof MigrationError);
      assert.match(
        error.message,
        /0002_broken\.sql failed, line 2: syntax error at or near "tabel"/,
      );
      assert.match(error.message, /rolled back/);
      return true;
    },
  );
  assert.equal(await tableExists(db.sql, "ok"), true, "the earlier migration stays applied");
  assert.equal(await tableExists(db.sql, "half"), false, "no partial schema");
  const versions = await db.sql`select version from tusk_migrations`;
  assert.deepEqual(versions.map((r) => r.version), [1]);
});

Deno.test("an applied migration whose file changed is refused, naming the file", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  await migrateUp(db.sql, await loadMigrations(files.dir));
  await files.write("0001_things.sql", "create table things (id bigint primary key);");
  const edited = await loadMigrations(files.dir);
  for (const attempt of [() => migrateUp(db.sql, edited), () => migrationStatus(db.sql, edited)]) {
    await assert.rejects(attempt, /Migration 0001_things\.sql was edited after it was applied/);
  }
});

Deno.test("a database with a migration the code does not know is refused", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  await migrateUp(db.sql, await loadMigrations(files.dir));
  await Deno.remove(join(files.dir, "0002_more.sql"));
  await Deno.remove(join(files.dir, "0002_more.down.sql"));
  const older = await loadMigrations(files.dir);
  await assert.rejects(
    () => migrationStatus(db.sql, older),
    /has migration 0002_more applied, which this code does not know/,
  );
  await assert.rejects(() => migrateUp(db.sql, older), MigrationError);
});

Deno.test("migrateDown() reverts the latest migration and migrateUp() re-applies it", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  const migrations = await loadMigrations(files.dir);
  await migrateUp(db.sql, migrations);
  const reverted = await migrateDown(db.sql, migrations);
  assert.equal(reverted.migration.file, "0002_more.sql");
  assert.equal(reverted.edited, false);
  const columns = await db.sql`
    select column_name from information_schema.columns where table_name = 'things' order by 1`;
  assert.deepEqual(columns.map((c) => c.column_name), ["id"]);
  const status = await migrationStatus(db.sql, migrations);
  assert.deepEqual(status.pending.map((m) => m.file), ["0002_more.sql"]);
  assert.deepEqual((await migrateUp(db.sql, migrations)).map((m) => m.file), ["0002_more.sql"]);
  assert.deepEqual((await migrationStatus(db.sql, migrations)).pending, []);
});

Deno.test("migrateDown() refuses a migration without a down file", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir({ "0001_one_way.sql": "create table one_way (id int);" });
  const migrations = await loadMigrations(files.dir);
  await migrateUp(db.sql, migrations);
  await assert.rejects(() => migrateDown(db.sql, migrations), /0001_one_way\.sql has no down file/);
  assert.equal(await tableExists(db.sql, "one_way"), true);
});

Deno.test("the project's migrations go down and up cleanly, as far back as they have down files", async () => {
  await using db = await emptyDatabase();
  const migrations = await loadMigrations();
  await migrateUp(db.sql, migrations);
  // A down file is optional: a project's own one-way migration is where going down stops.
  let reversible = 0;
  while (reversible < migrations.length && migrations.at(-1 - reversible)!.down !== undefined) {
    reversible++;
  }
  for (let i = 0; i < reversible; i++) await migrateDown(db.sql, migrations);
  const { pending } = await migrationStatus(db.sql, migrations);
  const reverted = migrations.slice(migrations.length - reversible).map((m) => m.file);
  assert.deepEqual(pending.map((m) => m.file), reverted);
  if (reversible === migrations.length) assert.equal(await tableExists(db.sql, "users"), false);
  await migrateUp(db.sql, migrations);
  assert.equal(await tableExists(db.sql, "items"), true);
  assert.deepEqual((await migrationStatus(db.sql, migrations)).pending, []);
});

Deno.test("loadMigrations() rejects badly named and duplicate-numbered files", async () => {
  {
    await using files = await migrationsDir({ "1_bad.sql": "select 1;" });
    await assert.rejects(
      () => loadMigrations(files.dir),
      /1_bad\.sql .* is not named NNNN_name\.sql/,
    );
  }
  {
    await using files = await migrationsDir({
      "0001_a.sql": "select 1;",
      "0001_b.sql": "select 1;",
    });
    await assert.rejects(() => loadMigrations(files.dir), /share the number 0001/);
  }
  {
    await using files = await migrationsDir({ "0001_a.sql": "", "0002_b.down.sql": "" });
    await assert.rejects(
      () => loadMigrations(files.dir),
      /0002_b\.down\.sql has no matching up file/,
    );
  }
});

Deno.test("newMigration() creates the next-numbered file and validates the name", async () => {
  await using files = await migrationsDir(BASIC);
  const path = await newMigration(files.dir, "add_tags");
  assert.match(path, /0003_add_tags\.sql$/);
  const text = await Deno.readTextFile(path);
  assert.match(text, /Until it is deployed, edit this file and run\n-- deno task migrate:redo/);
  assert.match(text, /add 0003_add_tags\.down\.sql/);
  assert.equal(
    await Deno.stat(path.replace(/\.sql$/, ".down.sql")).catch(() => null),
    null,
    "no down file",
  );
  await assert.rejects(() => newMigration(files.dir, "Add Tags"), /must be lower-case/);
  const next = await newMigration(files.dir, "second");
  assert.match(next, /0004_second\.sql$/);
});

async function columns(sql: ReturnType<typeof createSql>, table: string): Promise<string[]> {
  const rows = await sql`
    select column_name from information_schema.columns where table_name = ${table} order by 1`;
  return rows.map((c) => c.column_name);
}

Deno.test("inspectMigrations() shows applied, pending, edited and unknown without throwing", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  assert.deepEqual(
    (await inspectMigrations(db.sql, await loadMigrations(files.dir))).map((e) => e.state),
    ["pending", "pending"],
    "works before the migrations table exists",
  );
  await migrateUp(db.sql, await loadMigrations(files.dir));
  await db.sql`insert into tusk_migrations (version, name, checksum, duration_ms)
    values (7, 'from_elsewhere', 'x', 1)`;
  await files.write("0001_things.sql", "create table things (id bigint primary key);");
  await files.write("0003_later.sql", "select 1;");
  const entries = await inspectMigrations(db.sql, await loadMigrations(files.dir));
  assert.deepEqual(entries.map((e) => [e.version, e.state, e.file ?? e.name]), [
    [1, "edited", "0001_things.sql"],
    [2, "applied", "0002_more.sql"],
    [3, "pending", "0003_later.sql"],
    [7, "unknown", "from_elsewhere"],
  ]);
  assert.ok(entries[0]!.applied_at instanceof Date);
});

Deno.test("migrateDown() reverts an edited latest migration with the files on disk; earlier edits are refused", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  await migrateUp(db.sql, await loadMigrations(files.dir));
  await files.write("0002_more.sql", "alter table things add column title text;");
  await files.write("0002_more.down.sql", "alter table things drop column name;");
  const reverted = await migrateDown(db.sql, await loadMigrations(files.dir));
  assert.equal(reverted.migration.file, "0002_more.sql");
  assert.equal(reverted.edited, true);
  assert.deepEqual(await columns(db.sql, "things"), ["id"]);
  // Applied again, as edited; now edit the earlier one: down refuses.
  await migrateUp(db.sql, await loadMigrations(files.dir));
  await files.write("0001_things.sql", "create table things (id bigint primary key);");
  const earlierEdited = await loadMigrations(files.dir);
  await assert.rejects(
    () => migrateDown(db.sql, earlierEdited),
    /0001_things\.sql was edited after it was applied/,
  );
});

Deno.test("migrateRedo() re-applies the edited latest migration; a failing redo changes nothing", async () => {
  await using db = await emptyDatabase();
  await using files = await migrationsDir(BASIC);
  await migrateUp(db.sql, await loadMigrations(files.dir));
  await files.write("0002_more.sql", "alter table things add column title text;");
  await files.write("0002_more.down.sql", "alter table things drop column title;");
  // The database still has `name`: the down file on disk no longer matches it.
  const mismatched = await loadMigrations(files.dir);
  await assert.rejects(() => migrateRedo(db.sql, mismatched), /0002_more\.down\.sql failed/);
  assert.deepEqual(await columns(db.sql, "things"), ["id", "name"], "rolled back whole");
  await files.write("0002_more.down.sql", "alter table things drop column name;");
  const redone = await migrateRedo(db.sql, await loadMigrations(files.dir));
  assert.equal(redone.edited, true);
  assert.deepEqual(await columns(db.sql, "things"), ["id", "title"]);
  const status = await migrationStatus(db.sql, await loadMigrations(files.dir));
  assert.deepEqual(status.pending, [], "recorded with the new checksum: nothing is edited now");
  await files.write("0002_more.down.sql", "alter table things drop column title;");
  await files.write("0002_more.sql", "alter table things add column title text; select 1/0;");
  const failing = await loadMigrations(files.dir);
  await assert.rejects(() => migrateRedo(db.sql, failing), /division by zero/);
  assert.deepEqual(await columns(db.sql, "things"), ["id", "title"], "the old version stays");
});
