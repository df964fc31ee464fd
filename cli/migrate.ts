/**
 * `tusk migrate [up|down|redo|status|new NAME]`.
 *
 * @module
 */
import {
  inspectMigrations,
  loadMigrations,
  migrateDown,
  migrateRedo,
  migrateUp,
  type MigrationEntry,
  MIGRATIONS_DIR,
  newMigration,
  type Reverted,
} from "../db/migrate/mod.ts";
import { sessionUrl } from "../db/open.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { ensureFirstSuperuser } from "../services/accounts.ts";
import { cliLogger, withDatabase } from "./_db.ts";
import { UsageError } from "./_io.ts";

const USAGE = `Usage: tusk migrate [command]

Commands:
  up (default)   apply pending migrations, install the job queues, create the first superuser
  status         list migrations: applied, pending, edited since applied, unknown to this code
  down           revert the latest migration with its .down.sql (as the file is now)
  redo           down, then up again, for the latest migration, in one transaction
  new NAME       create the next-numbered migration file`;

const STATE_NOTES: Record<MigrationEntry["state"], string> = {
  applied: "",
  pending: "",
  edited: "  (file changed since it was applied: restore it, or if it is the latest, migrate redo)",
  unknown: "  (no such file here: applied by other code)",
};

function statusLine(entry: MigrationEntry): string {
  const when = entry.applied_at === undefined
    ? ""
    : `  ${entry.applied_at.toISOString()}  ${entry.duration_ms} ms`;
  const name = entry.file ?? `${String(entry.version).padStart(4, "0")}_${entry.name}`;
  return `${entry.state.padEnd(8)} ${name}${when}${STATE_NOTES[entry.state]}`;
}

function revertedLines(verb: string, { migration, edited }: Reverted): string {
  const note = edited
    ? `\nnote: ${migration.file} changed since it was applied; used the files as they are now`
    : "";
  return `${verb} ${migration.file}${note}`;
}

/** Runs `tusk migrate ARGS`; returns the exit code. */
export async function migrateCommand(args: string[], env: Record<string, string>): Promise<number> {
  const [sub = "up", ...rest] = args;
  if (sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (sub === "new") {
    const name = rest[0];
    if (name === undefined || rest.length > 1) {
      throw new UsageError(`give one NAME, e.g.: deno task migrate:new add_tags\n\n${USAGE}`);
    }
    console.log(`created ${await newMigration(MIGRATIONS_DIR, name)}`);
    return 0;
  }
  if (!["up", "down", "redo", "status"].includes(sub)) {
    throw new UsageError(
      `unknown migrate command ${JSON.stringify(sub)}; use up, down, redo, status or new` +
        `\n\n${USAGE}`,
    );
  }
  if (rest.length > 0) {
    throw new UsageError(`migrate ${sub} takes no argument ${JSON.stringify(rest[0])}`);
  }
  const migrations = await loadMigrations();
  return await withDatabase(env, async (db, config) => {
    if (sub === "up") {
      const applied = await migrateUp(db.sql, migrations);
      for (const m of applied) console.log(`applied ${m.file}`);
      console.log(applied.length === 0 ? "database is up to date" : `${applied.length} applied`);
      await installJobs(sessionUrl(db) ?? db.url, JOBS, cliLogger());
      console.log("job queues installed");
      await ensureFirstSuperuser(db.sql, config, cliLogger());
    } else if (sub === "down") {
      console.log(revertedLines("reverted", await migrateDown(db.sql, migrations)));
    } else if (sub === "redo") {
      console.log(revertedLines("redone", await migrateRedo(db.sql, migrations)));
    } else {
      const entries = await inspectMigrations(db.sql, migrations);
      for (const entry of entries) console.log(statusLine(entry));
      if (entries.length === 0) console.log("no migrations");
    }
    return 0;
  });
}
