/**
 * The `tusk` command line: one entry for every role and admin task, so a
 * single compiled binary serves, migrates, works jobs and manages users.
 *
 * @module
 */
import { ConfigError, loadConfig } from "../config.ts";
import { DatabaseConnectError } from "../db/connection_errors.ts";
import { EmbeddedPostgresError } from "../db/embedded/mod.ts";
import { runInRootContext } from "../db/history_context.ts";
import { MigrationError } from "../db/migrate/mod.ts";
import { EmailTemplateError } from "../emails/render.ts";
import { JobsNotInstalledError } from "../jobs/boss.ts";
import { HttpError } from "../lib/http_error.ts";
import { EnvFileError, processEnv } from "../lib/dotenv.ts";
import { createLogger } from "../lib/logging.ts";
import { runRole } from "./roles.ts";
import { runServer, StartupError } from "./serve.ts";
import { analyticsCommand } from "./analytics.ts";
import { CliError, UsageError } from "./_io.ts";
import { dbCommand } from "./db.ts";
import { devCommand } from "./dev.ts";
import { emailsCommand } from "./emails.ts";
import { flagsCommand } from "./flags.ts";
import { historyCommand } from "./history.ts";
import { jobsCommand } from "./jobs.ts";
import { migrateCommand } from "./migrate.ts";
import { newCommand } from "./new.ts";
import { tracesCommand } from "./traces.ts";
import { usersCommand } from "./users.ts";

const HELP = `Usage: tusk <command> [options]     (deno task cli <command> ...)

Commands:
  serve                 run the API
  dev                   migrate, then run API + worker + scheduler in one process
  worker                run the job worker (WORKER_CONCURRENCY, WORKER_BATCH_SIZE)
  scheduler             keep cron schedules in step with code and run the cron clock
  migrate [up|status|down|redo|new NAME]
                        database migrations (see: tusk migrate --help)
  users <command>       create, activate, deactivate, reset-password, list
  flags <command>       list, create, toggle, set, delete
  jobs <command>        queues; pause and resume a queue
  emails <command>      list and preview the email templates; log: what was sent to whom
  history [--table T] [--row ID] [--user EMAIL] [--limit N] [--json]
                        recorded changes (audit history), newest first
  analytics export | status
                        export users and items to Parquet now, or show the last export
  db url | db psql      print the database URL, or open psql on it
  traces [--port N]     a local OpenTelemetry receiver printing each trace as a tree
  new resource NAME [--job]
                        write a resource end to end: migration, db, rules, routes, tests

Every command takes --help. Configuration comes from the environment and .env
(see .env.example); without DATABASE_URL the embedded Postgres is used.`;

/**
 * Errors whose message is the whole story for the user: no stack trace. An
 * HttpError here is an account rule (e.g. the last-superuser guard) speaking.
 */
function isExpected(error: unknown): error is Error {
  return [
    ConfigError,
    DatabaseConnectError,
    EmailTemplateError,
    EmbeddedPostgresError,
    EnvFileError,
    MigrationError,
    StartupError,
    UsageError,
    CliError,
    JobsNotInstalledError,
    HttpError,
  ]
    .some((kind) => error instanceof kind);
}

/**
 * Runs one command and returns the process exit code: 0 on success, 1 on bad
 * input, a missing user or flag, or any failure.
 *
 * @example
 * ```ts
 * Deno.exit(await runCli(["migrate", "status"]));
 * ```
 */
export async function runCli(args: string[], env?: Record<string, string>): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined) {
    // `deno task cli` alone: say what there is, rather than start the API unasked.
    console.error(`tusk: which command? (tusk serve runs the API)\n\n${HELP}`);
    return 1;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    console.log(HELP);
    return 0;
  }
  try {
    const vars = env ??
      await processEnv();
    return await dispatch(command, rest, vars);
  } catch (error) {
    if (isExpected(error)) {
      const name = error instanceof UsageError ? error.command ?? command : command;
      console.error(`tusk ${name}: ${error.message}`);
      return 1;
    }
    console.error(`tusk ${command}: unexpected error:`, error);
    return 1;
  }
}

/** `tusk users reset-password a@b.c ***`: the command line without passwords. */
export function commandLine(command: string, args: string[]): string {
  const words = ["tusk", command];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--password") {
      words.push(arg, "***");
      i++;
    } else if (arg.startsWith("--password=")) {
      words.push("--password=***");
    } else if (command === "users" && args[0] === "reset-password" && i === 2) {
      words.push("***"); // reset-password EMAIL PASSWORD
    } else {
      words.push(arg);
    }
  }
  return words.join(" ");
}

async function dispatch(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  switch (command) {
    case "serve":
    case "dev":
    case "worker":
    case "scheduler": {
      if (args[0] === "--help" || args[0] === "-h") {
        console.log(HELP);
        return 0;
      }
      if (args.length > 0) {
        throw new UsageError(
          `${command} takes no argument ${JSON.stringify(args[0])}; see: tusk --help`,
        );
      }
      if (command === "dev") return await devCommand(isExpected);
      const config = loadConfig(env);
      if (command === "worker" || command === "scheduler") {
        const log = createLogger({
          level: config.logLevel,
          base: { role: command },
          traceIds: config.tracing,
          buffered: !config.logsExported,
        });
        await runRole(command, config, log);
      } else {
        const log = createLogger({
          level: config.logLevel,
          base: { role: "api" },
          traceIds: config.tracing,
          buffered: !config.logsExported,
        });
        await runServer(config, log);
      }
      return 0;
    }
    case "migrate":
    case "users":
    case "flags":
    case "jobs":
    case "emails":
    case "db":
    case "analytics":
    case "history": {
      const run = {
        migrate: migrateCommand,
        users: usersCommand,
        flags: flagsCommand,
        jobs: jobsCommand,
        emails: emailsCommand,
        db: dbCommand,
        history: historyCommand,
        analytics: analyticsCommand,
      }[command];
      // Audit history names the command behind every change it makes (secrets masked).
      return await runInRootContext(
        { command: commandLine(command, args) },
        () => run(args, env),
      );
    }
    case "traces":
      return await tracesCommand(args);
    case "new":
      return await newCommand(args);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}.\n\n${HELP}`);
  }
}
