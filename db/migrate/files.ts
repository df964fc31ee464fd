/**
 * Migration files on disk: numbered plain-SQL files `NNNN_name.sql` with an
 * optional `NNNN_name.down.sql`; reading, validating and creating them.
 *
 * @module
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** A migration problem the operator must fix; the message says how. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

/** The folder shipped with the code (works in `deno compile` with `--include migrations`). */
export const MIGRATIONS_DIR: string = fileURLToPath(new URL("../../migrations/", import.meta.url));

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

/** Checks a migration name: lower-case letters, digits and `_`, starting with a letter. */
function checkName(name: string): void {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new MigrationError(
      `Migration name ${JSON.stringify(name)} must be lower-case letters, digits and _ ` +
        `(starting with a letter), e.g. add_tags`,
    );
  }
}

/**
 * Where the next migration called `name` goes in `dir`: the number after the
 * highest there, as `NNNN_name.sql` (and its `NNNN_name.down.sql`).
 */
export async function nextMigrationFiles(
  dir: string,
  name: string,
): Promise<{ up: string; down: string }> {
  checkName(name);
  const existing = await loadMigrations(dir);
  const version = (existing.at(-1)?.version ?? 0) + 1;
  if (version > 9999) throw new MigrationError("Migration numbers are exhausted (9999)");
  const base = join(dir, `${String(version).padStart(4, "0")}_${name}`);
  return { up: `${base}.sql`, down: `${base}.down.sql` };
}

/**
 * Creates the next-numbered empty migration in `dir` and returns its path.
 * No down file: add one to make it revertible.
 *
 * @example
 * ```ts
 * await newMigration(MIGRATIONS_DIR, "add_tags"); // migrations/0009_add_tags.sql
 * ```
 */
export async function newMigration(dir: string, name: string): Promise<string> {
  const { up, down } = await nextMigrationFiles(dir, name);
  await Deno.writeTextFile(
    up,
    `-- ${name}: applied once, in a transaction. Until it is deployed, edit this file and run\n` +
      `-- deno task migrate:redo; after that, add a new migration instead. To make it\n` +
      `-- revertible, add ${basename(down)}.\n\n`,
    { createNew: true },
  );
  return up;
}

/** `0001_name`: how messages name a migration. */
export function label(m: { version: number; name: string }): string {
  return `${String(m.version).padStart(4, "0")}_${m.name}`;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
