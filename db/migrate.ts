/**
 * The migrator: numbered plain-SQL files `NNNN_name.sql` (optional
 * `NNNN_name.down.sql`), each applied in its own transaction under a
 * transaction-scoped advisory lock and recorded with its checksum.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql, Tx } from "./client.ts";

/** One migration file pair, as found on disk. */
export interface Migration {
  version: number;
  name: string;
  /** File name of the up script, e.g. `0001_users_items.sql`. */
  file: string;
  up: string;
  down: string | undefined;
  /** Hex SHA-256 of `up`. */
  checksum: string;
}

/** A row of the migrations table. */
export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
  duration_ms: number;
}

/** What `migrate:status` shows and `/readyz` checks. */
export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: Migration[];
}

/** A migration problem the operator must fix; the message says how. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

/** The folder shipped with the code (works in `deno compile` with `--include migrations`). */
export const MIGRATIONS_DIR: string = fileURLToPath(new URL("../migrations/", import.meta.url));

const TABLE = "tusk_migrations";
// One lock id for every migrator of every process; hashtext keeps it readable in pg_locks.
const LOCK_KEY = "tusk:migrations";
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+?)(\.down)?\.sql$/;

/**
 * Reads and validates every migration in `dir`, ordered by version.
 *
 * @example
 * ```ts
 * const migrations = await loadMigrations(MIGRATIONS_DIR);
 * ```
 */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const ups = new Map<number, { name: string; file: string; up: string }>();
  const downs = new Map<number, { name: string; sql: string }>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const match = FILE_PATTERN.exec(entry.name);
    if (!match) {
      throw new MigrationError(
        `${entry.name} in ${dir} is not named NNNN_name.sql (four digits, lower-case name). ` +
          `Rename it, or create migrations with: deno task migrate:new NAME`,
      );
    }
    const version = Number(match[1]);
    const name = match[2]!;
    const text = await Deno.readTextFile(join(dir, entry.name));
    const target = match[3] ? downs : ups;
    if (target.has(version)) {
      throw new MigrationError(
        `Two migration files in ${dir} share the number ${match[1]}; renumber one of them`,
      );
    }
    if (match[3]) downs.set(version, { name, sql: text });
    else ups.set(version, { name, file: entry.name, up: text });
  }
  for (const [version, down] of downs) {
    if (ups.get(version)?.name !== down.name) {
      throw new MigrationError(
        `${String(version).padStart(4, "0")}_${down.name}.down.sql has no matching up file`,
      );
    }
  }
  const migrations: Migration[] = [];
  for (const [version, { name, file, up }] of ups) {
    migrations.push({
      version,
      name,
      file,
      up,
      down: downs.get(version)?.sql,
      checksum: await sha256(up),
    });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

/**
 * Applies every pending migration, each in its own transaction, and returns
 * the ones this call applied. Safe to run from many processes at once.
 */
export async function migrateUp(sql: Sql, migrations: Migration[]): Promise<Migration[]> {
  await ensureTable(sql);
  const done: Migration[] = [];
  for (;;) {
    const next = await sql.begin(async (tx) => {
      await lock(tx);
      const applied = await appliedRows(tx);
      verify(applied, migrations);
      const known = new Set(applied.map((a) => a.version));
      const pending = migrations.find((m) => !known.has(m.version));
      if (pending === undefined) return undefined;
      const started = performance.now();
      await runScript(tx, pending, pending.up);
      const duration = Math.round(performance.now() - started);
      await tx`
        insert into ${tx(TABLE)} (version, name, checksum, duration_ms)
        values (${pending.version}, ${pending.name}, ${pending.checksum}, ${duration})
      `;
      return pending;
    });
    if (next === undefined) return done;
    done.push(next);
  }
}

/** Reverts the latest applied migration with its down file and returns it. */
export async function migrateDown(sql: Sql, migrations: Migration[]): Promise<Migration> {
  await ensureTable(sql);
  return await sql.begin(async (tx) => {
    await lock(tx);
    const applied = await appliedRows(tx);
    verify(applied, migrations);
    const latest = applied.at(-1);
    if (latest === undefined) {
      throw new MigrationError("No migration is applied; nothing to revert");
    }
    const migration = migrations.find((m) => m.version === latest.version)!;
    if (migration.down === undefined) {
      throw new MigrationError(
        `${migration.file} has no down file (${label(migration)}.down.sql), so it cannot be ` +
          `reverted automatically. Write one, or revert by hand in a new migration`,
      );
    }
    await runScript(tx, migration, migration.down, ".down.sql");
    await tx`delete from ${tx(TABLE)} where version = ${migration.version}`;
    return migration;
  });
}

/** Applied and pending migrations; throws {@link MigrationError} on unknown or edited ones. */
export async function migrationStatus(sql: Sql, migrations: Migration[]): Promise<MigrationStatus> {
  const [exists] = await sql`select to_regclass(${TABLE}) is not null as ok`;
  const applied = exists?.ok ? await appliedRows(sql) : [];
  verify(applied, migrations);
  const known = new Set(applied.map((a) => a.version));
  return { applied, pending: migrations.filter((m) => !known.has(m.version)) };
}

/**
 * Creates the next-numbered empty migration in `dir` and returns its path.
 *
 * @example
 * ```ts
 * await newMigration(MIGRATIONS_DIR, "add_tags"); // migrations/0002_add_tags.sql
 * ```
 */
export async function newMigration(dir: string, name: string): Promise<string> {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new MigrationError(
      `Migration name ${JSON.stringify(name)} must be lower-case letters, digits and _ ` +
        `(starting with a letter), e.g. add_tags`,
    );
  }
  const existing = await loadMigrations(dir);
  const version = (existing.at(-1)?.version ?? 0) + 1;
  if (version > 9999) throw new MigrationError("Migration numbers are exhausted (9999)");
  const file = join(dir, `${String(version).padStart(4, "0")}_${name}.sql`);
  await Deno.writeTextFile(
    file,
    `-- ${name}: runs once, in a transaction, and is never edited after it lands.\n` +
      `-- To make it revertible, add ${String(version).padStart(4, "0")}_${name}.down.sql.\n\n`,
    { createNew: true },
  );
  return file;
}

async function ensureTable(sql: Sql) {
  // Under the lock too: concurrent CREATE TABLE IF NOT EXISTS can still collide in pg_type.
  await sql.begin(async (tx) => {
    await lock(tx);
    await tx`
      create table if not exists ${tx(TABLE)} (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now(),
        duration_ms integer not null
      )
    `;
  });
}

async function lock(tx: Tx) {
  await tx`select pg_advisory_xact_lock(hashtext(${LOCK_KEY}))`;
}

async function appliedRows(sql: Sql | Tx): Promise<AppliedMigration[]> {
  return await sql<AppliedMigration[]>`
    select version, name, checksum, applied_at, duration_ms
    from ${sql(TABLE)} order by version
  `;
}

/** Refuses a database that has migrations this code does not know, or edited ones. */
function verify(applied: AppliedMigration[], migrations: Migration[]) {
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  for (const row of applied) {
    const migration = byVersion.get(row.version);
    if (migration === undefined || migration.name !== row.name) {
      throw new MigrationError(
        `The database has migration ${label(row)} applied, which this code does not know. ` +
          `It was probably applied by newer code: deploy that version, or revert the ` +
          `migration with the code that has it (deno task migrate:down)`,
      );
    }
    if (migration.checksum !== row.checksum) {
      throw new MigrationError(
        `Migration ${migration.file} was edited after it was applied (its checksum changed). ` +
          `Applied migrations are never edited: restore the file (git checkout -- ` +
          `migrations/${migration.file}) and put the change in a new migration ` +
          `(deno task migrate:new NAME)`,
      );
    }
  }
}

async function runScript(tx: Tx, migration: Migration, script: string, suffix = ".sql") {
  try {
    // Simple protocol: a file may hold many statements.
    await tx.unsafe(script).simple();
  } catch (error) {
    const pg = error as { message?: string; position?: string; code?: string };
    const at = pg.position ? `, line ${lineOf(script, Number(pg.position))}` : "";
    throw new MigrationError(
      `Migration ${label(migration)}${suffix} failed${at}: ${pg.message ?? error}` +
        `${pg.code ? ` (SQLSTATE ${pg.code})` : ""}. It was rolled back; nothing of it was applied`,
    );
  }
}

function lineOf(text: string, position: number): number {
  return text.slice(0, position).split("\n").length;
}

function label(m: { version: number; name: string }): string {
  return `${String(m.version).padStart(4, "0")}_${m.name}`;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
