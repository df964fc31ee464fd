/**
 * `tusk migrate [up|down|status|new NAME]`.
 *
 * @module
 */
import {
  loadMigrations,
  migrateDown,
  migrateUp,
  MIGRATIONS_DIR,
  migrationStatus,
  newMigration,
} from "../../db/migrate.ts";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { ensureFirstSuperuser } from "../accounts.ts";
import { cliLogger, withDatabase } from "./_db.ts";
import { UsageError } from "./_io.ts";

const USAGE = `Usage: tusk migrate [command]

Commands:
  up (default)   apply pending migrations, install the job queues, create the first superuser
  status         list applied and pending migrations
  down           revert the latest migration (needs its .down.sql)
  new NAME       create the next-numbered migration file`;

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
  if (!["up", "down", "status"].includes(sub)) {
    throw new UsageError(
      `unknown migrate command ${JSON.stringify(sub)}; use up, down, status or new\n\n${USAGE}`,
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
      await installJobs(db.url, JOBS, cliLogger());
      console.log("job queues installed");
      await ensureFirstSuperuser(db.sql, config, cliLogger());
    } else if (sub === "down") {
      const reverted = await migrateDown(db.sql, migrations);
      console.log(`reverted ${reverted.file}`);
    } else {
      const status = await migrationStatus(db.sql, migrations);
      for (const a of status.applied) {
        const file = migrations.find((m) => m.version === a.version)!.file;
        console.log(`applied  ${file}  ${a.applied_at.toISOString()}  ${a.duration_ms} ms`);
      }
      for (const p of status.pending) console.log(`pending  ${p.file}`);
      if (status.applied.length + status.pending.length === 0) console.log("no migrations");
    }
    return 0;
  });
}
