import assert from "node:assert/strict";
import { join } from "node:path";
import { exportAnalytics } from "../../analytics/export.ts";
import { currentGeneration } from "../../analytics/files.ts";
import { migratedDatabase } from "../_db.ts";
import { duckRows, exported, knownData, memoryLogger, scratchDir } from "../_analytics.ts";

Deno.test("exportAnalytics() writes users and items as SQL has them, without password hashes", async () => {
  await using db = await migratedDatabase();
  const dir = await scratchDir(db);
  await knownData(db.sql);
  // Left by an export that died mid-way: the next one clears it.
  await Deno.mkdir(join(dir, "exports", ".partial-dead"), { recursive: true });
  const { log } = memoryLogger();

  const { manifest, joined } = await exportAnalytics(db.sql, { dir, log });
  assert.equal(joined, false);
  const [counts] = await db.sql`
    select (select count(*)::int from users) as users, (select count(*)::int from items) as items`;
  assert.equal(manifest.tables.users.rows, counts!.users);
  assert.equal(manifest.tables.items.rows, counts!.items);
  assert.ok(manifest.tables.items.bytes > 0);
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(join(dir, "manifest.json"))),
    manifest,
    "manifest.json is the manifest returned",
  );

  const columns = await duckRows(
    `select column_name, column_type from (describe select * from read_parquet('${
      exported(dir, "users")
    }'))`,
    dir,
  );
  assert.deepEqual(columns.map((c) => c.column_name), [
    "id",
    "email",
    "full_name",
    "is_active",
    "is_superuser",
    "created_at",
  ]);
  const users = await duckRows(
    `select id::varchar as id, email, full_name, is_active, is_superuser,
       epoch_us(created_at) as us from read_parquet('${exported(dir, "users")}') order by email`,
    dir,
  );
  const sqlUsers = await db.sql`
    select id::text, email, full_name, is_active, is_superuser,
      (extract(epoch from created_at) * 1000000)::bigint::text as us, hashed_password
    from users order by email`;
  assert.deepEqual(
    users.map((u) => ({ ...u, us: String(u.us) })),
    sqlUsers.map(({ hashed_password: _h, ...u }) => u),
  );
  const bytes = await Deno.readFile(exported(dir, "users"));
  const text = new TextDecoder("latin1").decode(bytes);
  for (const { hashed_password } of sqlUsers) {
    assert.ok(!text.includes(hashed_password.slice(0, 30)), "no hash in the users file");
  }

  const items = await duckRows(
    `select id::varchar as id, title, description, owner_id::varchar as owner_id,
       epoch_us(created_at) as us from read_parquet('${exported(dir, "items")}') order by title`,
    dir,
  );
  const sqlItems = await db.sql`
    select id::text, title, description, owner_id::text,
      (extract(epoch from created_at) * 1000000)::bigint::text as us
    from items order by title collate "C"`;
  assert.deepEqual(items.map((i) => ({ ...i, us: String(i.us) })), [...sqlItems]);
  assert.ok(items.some((i) => i.description === "") && items.some((i) => i.description === null));

  const entries = await Array.fromAsync(Deno.readDir(join(dir, "exports")), (e) => e.name);
  assert.deepEqual(entries, [manifest.generation], "the dead partial export is gone");
});

Deno.test("exportAnalytics() of an empty database writes empty files, for their owner only", async () => {
  await using db = await migratedDatabase();
  const dir = await scratchDir(db);
  await Deno.chmod(dir, 0o755);
  const { manifest } = await exportAnalytics(db.sql, { dir, log: memoryLogger().log });
  // People's emails and names: 0700 directories and 0600 files all the way down.
  const walk = async (path: string): Promise<void> => {
    const info = await Deno.stat(path);
    assert.equal(info.mode! & 0o777, info.isDirectory ? 0o700 : 0o600, path);
    if (info.isDirectory) {
      for await (const entry of Deno.readDir(path)) await walk(join(path, entry.name));
    }
  };
  await walk(dir);
  assert.equal(manifest.tables.users.rows, 0);
  assert.equal(manifest.tables.items.rows, 0);
  const [row] = await duckRows(
    `select (select count(*) from read_parquet('${exported(dir, "users")}'))::int as users,
       (select count(*) from read_parquet('${exported(dir, "items")}'))::int as items`,
    dir,
  );
  assert.deepEqual(row, { users: 0, items: 0 });
});

Deno.test("both tables come from one snapshot: a user and their item committed together are in both files or neither", async () => {
  await using db = await migratedDatabase();
  const dir = await scratchDir(db);
  const { log } = memoryLogger();
  let writing = true;
  let pairs = 0;
  // Each transaction adds one user and one item of theirs.
  const writer = (async () => {
    while (writing) {
      await db.sql.begin(async (tx) => {
        const [u] = await tx`insert into users (email, hashed_password)
          values (${`pair${pairs}@example.com`}, 'x') returning id`;
        await tx`insert into items (title, owner_id) values ('pair', ${u!.id})`;
      });
      pairs++;
    }
  })();
  try {
    for (let i = 0; i < 5; i++) {
      const { manifest } = await exportAnalytics(db.sql, { dir, log });
      const generation = (await currentGeneration(dir))!;
      assert.equal(generation.manifest.generation, manifest.generation);
      assert.equal(manifest.tables.users.rows, manifest.tables.items.rows);
      const [orphans] = await duckRows(
        `select count(*)::int as n from read_parquet('${generation.dir}/items_analytics.parquet') i
         anti join read_parquet('${generation.dir}/users_analytics.parquet') u on u.id = i.owner_id`,
        dir,
      );
      assert.equal(orphans!.n, 0, "every exported item's owner is in the exported users");
    }
  } finally {
    writing = false;
    await writer;
  }
  assert.ok(pairs > 0);
});

Deno.test("two exports at once run one: the second waits and shares the first one's result", async () => {
  await using db = await migratedDatabase();
  const dir = await scratchDir(db);
  await knownData(db.sql);
  const { log, lines } = memoryLogger();
  let waited = 0;
  const [a, b] = await Promise.all([
    exportAnalytics(db.sql, { dir, log, onWait: () => waited++ }),
    exportAnalytics(db.sql, { dir, log, onWait: () => waited++ }),
  ]);
  assert.equal(waited, 1, "one of the two found the other running");
  assert.deepEqual([a.joined, b.joined].sort(), [false, true]);
  assert.equal(a.manifest.generation, b.manifest.generation);
  assert.equal(lines.filter((l) => l.msg === "analytics exported").length, 1);

  // Later exports replace the current one; the one before stays for readers that resolved it.
  const later = [];
  for (let i = 0; i < 3; i++) later.push((await exportAnalytics(db.sql, { dir, log })).manifest);
  const generations = await Array.fromAsync(Deno.readDir(join(dir, "exports")), (e) => e.name);
  assert.deepEqual(generations.sort(), [later[1]!.generation, later[2]!.generation].sort());
  assert.equal((await currentGeneration(dir))!.manifest.generation, later[2]!.generation);
});

Deno.test("an export stopped mid-way publishes nothing and leaves the last one in place", async () => {
  await using db = await migratedDatabase();
  const dir = await scratchDir(db);
  const [owner] = await knownData(db.sql);
  const { log } = memoryLogger();
  const first = await exportAnalytics(db.sql, { dir, log });
  // Enough rows that the COPY is still streaming when the abort lands.
  await db.sql`insert into items (title, owner_id)
    select 'bulk ' || g, ${owner!.user.id} from generate_series(1, 20000) g`;
  const abort = new AbortController();
  const exports = join(dir, "exports");
  const watcher = (async () => {
    while (!abort.signal.aborted) {
      const names = await Array.fromAsync(Deno.readDir(exports), (e) => e.name);
      if (names.some((n) => n.startsWith(".partial-"))) abort.abort(new Error("stopped mid-way"));
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  await assert.rejects(
    () => exportAnalytics(db.sql, { dir, log, signal: abort.signal }),
    /stopped mid-way/,
  );
  await watcher;
  assert.equal((await currentGeneration(dir))!.manifest.generation, first.manifest.generation);
  const entries = await Array.fromAsync(Deno.readDir(exports), (e) => e.name);
  assert.deepEqual(entries, [first.manifest.generation], "no partial export is left behind");
});
