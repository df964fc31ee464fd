/**
 * Runs the API: opens the database, checks migrations, serves, and shuts
 * down gracefully on SIGINT/SIGTERM.
 *
 * @module
 */
import { createApp } from "../app.ts";
import type { Config } from "../config.ts";
import { type Database, openDatabase } from "../db/database.ts";
import { loadMigrations, migrateUp, migrationStatus } from "../db/migrate.ts";
import { createMailer } from "../emails/mailer.ts";
import { ensureFirstSuperuser } from "./accounts.ts";
import type { Logger } from "./logging.ts";

/** Options for {@link runServer}. */
export interface ServerOptions {
  /** Apply pending migrations before serving (the `dev` role). */
  migrate?: boolean;
}

/** A clear, stack-free startup failure (e.g. the port is taken). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * Serves until SIGINT or SIGTERM, then stops accepting connections, lets
 * in-flight requests finish (up to `SHUTDOWN_TIMEOUT_SECONDS`), closes the
 * pool and the embedded Postgres, and resolves.
 */
export async function runServer(
  config: Config,
  log: Logger,
  options: ServerOptions = {},
): Promise<void> {
  const db = await openDatabase(config, { role: "api", log });
  try {
    await serveUntilSignal(db, config, log, options);
  } finally {
    await db.close();
  }
}

async function serveUntilSignal(db: Database, config: Config, log: Logger, options: ServerOptions) {
  const migrations = await loadMigrations();
  if (options.migrate) {
    const applied = await migrateUp(db.sql, migrations);
    for (const m of applied) log.info("migration applied", { migration: m.file });
  }
  // Refuses unknown or edited migrations before a single request is served.
  const { pending } = await migrationStatus(db.sql, migrations);
  if (pending.length > 0) {
    log.warn("migrations pending; /readyz answers 503 until they are applied", {
      pending: pending.map((m) => m.file),
    });
  } else {
    await ensureFirstSuperuser(db.sql, config, log);
  }

  const mailer = createMailer(config, log);
  try {
    await serveApp(createApp({ config, sql: db.sql, migrations, log, mailer }), config, log);
  } finally {
    mailer.close();
  }
}

async function serveApp(app: ReturnType<typeof createApp>, config: Config, log: Logger) {
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: ({ hostname, port }) =>
        log.info("listening", { url: `http://${hostname}:${port}` }),
    }, app.fetch);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new StartupError(
        `Port ${config.port} on ${config.host} is already in use, so the API cannot start. ` +
          `Stop the other program or set PORT to a free port.`,
      );
    }
    throw error;
  }

  const signal = await nextSignal();
  log.info("shutting down", { signal, timeout_ms: config.shutdownTimeoutMs });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), config.shutdownTimeoutMs);
  });
  const outcome = await Promise.race([server.shutdown().then(() => "drained" as const), deadline]);
  clearTimeout(timer);
  if (outcome === "timeout") log.warn("shutdown deadline passed; closing with requests in flight");
}

/**
 * Resolves with the first SIGINT/SIGTERM. The listeners are removed at once,
 * so a second signal gets the default action: an impatient Ctrl-C still quits.
 */
function nextSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const handlers = SIGNALS.map((signal) => {
      const handler = () => {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        resolve(signal);
      };
      return [signal, handler] as const;
    });
    for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  });
}
