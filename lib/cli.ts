/**
 * The `tusk` command line: one entry for every role, so a single compiled
 * binary serves, migrates and (later) works jobs.
 *
 * @module
 */
import { ConfigError, loadConfig } from "../config.ts";
import { openDatabase } from "../db/database.ts";
import { EmbeddedPostgresError } from "../db/embedded.ts";
import {
  loadMigrations,
  migrateDown,
  migrateUp,
  MigrationError,
  MIGRATIONS_DIR,
  migrationStatus,
  newMigration,
} from "../db/migrate.ts";
import { installJobs, JobsNotInstalledError } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { ensureFirstSuperuser } from "./accounts.ts";
import { withDotEnv } from "./dotenv.ts";
import { createLogger, type Logger } from "./logging.ts";
import { runRole } from "./roles.ts";
import { runServer, StartupError } from "./server.ts";

/** A usage mistake; printed with a hint, exit code 2. */
class UsageError extends Error {}

const HELP = `Usage: tusk <command> [options]

Commands:
  serve                 run the API (default)
  dev                   migrate, then run API + worker + scheduler in one process
  migrate [up]          apply pending migrations
  migrate status        list applied and pending migrations
  migrate down          revert the latest migration (needs its .down.sql)
  migrate new NAME      create the next-numbered migration file
  worker                run the job worker (WORKER_CONCURRENCY, WORKER_BATCH_SIZE)
  scheduler             keep cron schedules in step with code and run the cron clock

Configuration comes from the environment and .env (see .env.example).`;

/** Messages that are the whole story for the user: no stack trace. */
function isExpected(error: unknown): error is Error {
  return error instanceof ConfigError || error instanceof EmbeddedPostgresError ||
    error instanceof MigrationError || error instanceof StartupError ||
    error instanceof UsageError ||
    error instanceof JobsNotInstalledError;
}

/**
 * Runs one command and returns the process exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await runCli(["migrate", "status"]));
 * ```
 */
export async function runCli(args: string[], env?: Record<string, string>): Promise<number> {
  const [command = "serve", ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    console.log(HELP);
    return 0;
  }
  try {
    const vars = env ??
      await withDotEnv(Deno.env.get("TUSK_ENV_FILE") ?? ".env", Deno.env.toObject());
    return await dispatch(command, rest, vars);
  } catch (error) {
    if (isExpected(error)) {
      console.error(`tusk ${command}: ${error.message}`);
      return error instanceof UsageError ? 2 : 1;
    }
    console.error(`tusk ${command}: unexpected error:`, error);
    return 1;
  }
}

async function dispatch(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  switch (command) {
    case "serve":
    case "dev": {
      noExtraArgs(command, args);
      const config = loadConfig(env);
      const log = createLogger({ base: { role: "api" } });
      const dev = command === "dev";
      await runServer(config, log, { migrate: dev, work: dev, schedule: dev });
      return 0;
    }
    case "migrate":
      return await migrate(args, env);
    case "worker":
    case "scheduler": {
      noExtraArgs(command, args);
      await runRole(command, loadConfig(env), createLogger({ base: { role: command } }));
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}.\n\n${HELP}`);
  }
}

function noExtraArgs(command: string, args: string[]) {
  if (args.length > 0) {
    throw new UsageError(
      `${command} takes no argument ${JSON.stringify(args[0])}; see: tusk --help`,
    );
  }
}

/** Plain progress lines for humans at a terminal. */
function cliLogger(): Logger {
  return createLogger({ write: (line) => console.error(JSON.parse(line).msg) });
}

async function migrate(args: string[], env: Record<string, string>): Promise<number> {
  const [sub = "up", ...rest] = args;
  if (sub === "new") {
    const name = rest[0];
    if (name === undefined || rest.length > 1) {
      throw new UsageError("give one NAME, e.g.: deno task migrate:new add_tags");
    }
    console.log(`created ${await newMigration(MIGRATIONS_DIR, name)}`);
    return 0;
  }
  if (!["up", "down", "status"].includes(sub)) {
    throw new UsageError(
      `unknown migrate command ${JSON.stringify(sub)}; use up, down, status or new`,
    );
  }
  noExtraArgs(`migrate ${sub}`, rest);
  const config = loadConfig(env);
  const migrations = await loadMigrations();
  const db = await openDatabase(config, { role: "cli", log: cliLogger() });
  try {
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
  } finally {
    await db.close();
  }
  return 0;
}
