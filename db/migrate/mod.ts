/**
 * The migrator: numbered plain-SQL files `NNNN_name.sql` (optional
 * `NNNN_name.down.sql`), each applied in its own transaction under a
 * transaction-scoped advisory lock and recorded with its checksum.
 *
 * @module
 */
import type { Sql, Tx } from "../client.ts";
import { label, type Migration, MigrationError } from "./files.ts";

export {
  loadMigrations,
  type Migration,
  MigrationError,
  MIGRATIONS_DIR,
  newMigration,
  nextMigrationFiles,
} from "./files.ts";

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

/** One line of `migrate:status`: a file, an applied row, or both. */
export interface MigrationEntry {
  version: number;
  name: string;
  /** The file on disk; undefined for `unknown`. */
  file: string | undefined;
  /**
   * `applied`; `pending`; `edited` (applied, but the file changed since);
   * `unknown` (applied, but no such file here).
   */
  state: "applied" | "pending" | "edited" | "unknown";
  applied_at: Date | undefined;
  duration_ms: number | undefined;
}

/** What {@link migrateDown} and {@link migrateRedo} did. */
export interface Reverted {
  migration: Migration;
  /** The file had changed since it was applied; the files on disk were used. */
  edited: boolean;
}

const TABLE = "tusk_migrations";
// One lock id for every migrator of every process; hashtext keeps it readable in pg_locks.
const LOCK_KEY = "tusk:migrations";

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
      await apply(tx, pending);
      return pending;
    });
    if (next === undefined) return done;
    done.push(next);
  }
}

/**
 * Reverts the latest applied migration with the `.down.sql` on disk. The
 * latest one may have been edited since it was applied (the local "apply,
 * tweak, redo" loop): `edited` says so. Earlier edits are still refused.
 */
export async function migrateDown(sql: Sql, migrations: Migration[]): Promise<Reverted> {
  await ensureTable(sql);
  return await sql.begin(async (tx) => (await revertLatest(tx, migrations)));
}

/**
 * Reverts the latest applied migration and applies its file again, in one
 * transaction: if the new version fails, the old one stays applied.
 */
export async function migrateRedo(sql: Sql, migrations: Migration[]): Promise<Reverted> {
  await ensureTable(sql);
  return await sql.begin(async (tx) => {
    const reverted = await revertLatest(tx, migrations);
    await apply(tx, reverted.migration);
    return reverted;
  });
}

async function revertLatest(tx: Tx, migrations: Migration[]): Promise<Reverted> {
  await lock(tx);
  const applied = await appliedRows(tx);
  const latest = applied.at(-1);
  if (latest === undefined) {
    throw new MigrationError("No migration is applied; nothing to revert");
  }
  const migration = verify(applied, migrations, { allowEditedLatest: true }).at(-1)!;
  if (migration.down === undefined) {
    throw new MigrationError(
      `${migration.file} has no down file (${label(migration)}.down.sql), so it cannot be ` +
        `reverted automatically. Write one, or revert by hand in a new migration`,
    );
  }
  await runScript(tx, migration, migration.down, ".down.sql");
  await tx`delete from ${tx(TABLE)} where version = ${migration.version}`;
  return { migration, edited: migration.checksum !== latest.checksum };
}

/**
 * Every migration known to the files or the database, with its state; never
 * throws for edited or unknown ones (that is what it shows).
 */
export async function inspectMigrations(
  sql: Sql,
  migrations: Migration[],
): Promise<MigrationEntry[]> {
  const applied = await appliedIfAny(sql);
  const rows = new Map(applied.map((a) => [a.version, a]));
  const entries: MigrationEntry[] = migrations.map((m) => {
    const row = rows.get(m.version);
    rows.delete(m.version);
    const state = row === undefined
      ? "pending"
      : row.name !== m.name
      ? "unknown"
      : row.checksum === m.checksum
      ? "applied"
      : "edited";
    return {
      version: m.version,
      name: row?.name ?? m.name,
      file: state === "unknown" ? undefined : m.file,
      state,
      applied_at: row?.applied_at,
      duration_ms: row?.duration_ms,
    };
  });
  for (const row of rows.values()) {
    entries.push({ ...row, file: undefined, state: "unknown" });
  }
  return entries.sort((a, b) => a.version - b.version);
}

/** Applied and pending migrations; throws {@link MigrationError} on unknown or edited ones. */
export async function migrationStatus(sql: Sql, migrations: Migration[]): Promise<MigrationStatus> {
  const applied = await appliedIfAny(sql);
  verify(applied, migrations);
  const known = new Set(applied.map((a) => a.version));
  return { applied, pending: migrations.filter((m) => !known.has(m.version)) };
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

/** Runs `migration`'s up script and records it. */
async function apply(tx: Tx, migration: Migration) {
  const started = performance.now();
  await runScript(tx, migration, migration.up);
  const duration = Math.round(performance.now() - started);
  await tx`
    insert into ${tx(TABLE)} (version, name, checksum, duration_ms)
    values (${migration.version}, ${migration.name}, ${migration.checksum}, ${duration})
  `;
}

async function appliedIfAny(sql: Sql): Promise<AppliedMigration[]> {
  const [exists] = await sql`select to_regclass(${TABLE}) is not null as ok`;
  return exists?.ok ? await appliedRows(sql) : [];
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

/**
 * Refuses a database that has migrations this code does not know, or edited
 * ones (the latest may be edited with `allowEditedLatest`); returns the files
 * of the applied rows.
 */
function verify(
  applied: AppliedMigration[],
  migrations: Migration[],
  options: { allowEditedLatest?: boolean } = {},
): Migration[] {
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  return applied.map((row, i) => {
    const migration = byVersion.get(row.version);
    if (migration === undefined || migration.name !== row.name) {
      throw new MigrationError(
        `The database has migration ${label(row)} applied, which this code does not know. ` +
          `It was probably applied by newer code: deploy that version, or revert the ` +
          `migration with the code that has it (deno task migrate:down)`,
      );
    }
    const latest = i === applied.length - 1;
    if (migration.checksum !== row.checksum && !(latest && options.allowEditedLatest)) {
      throw new MigrationError(
        `Migration ${migration.file} was edited after it was applied (its checksum changed). ` +
          `Applied migrations are never edited: restore the file (git checkout -- ` +
          `migrations/${migration.file}) and put the change in a new migration ` +
          `(deno task migrate:new NAME). While developing, the latest migration can be ` +
          `re-applied with deno task migrate:redo`,
      );
    }
    return migration;
  });
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
