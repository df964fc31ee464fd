/**
 * Runs the API (and, for `dev`, the worker and scheduler in the same
 * process): opens the database, checks migrations, serves, and shuts down
 * gracefully on SIGINT/SIGTERM.
 *
 * @module
 */
import { generationResolver } from "../analytics/published.ts";
import { analyticsReports } from "../analytics/reports.ts";
import { createApp } from "../app.ts";
import { createLiveEvents } from "../routes/events.ts";
import { frontendRoot } from "../http/frontend.ts";
import type { Config } from "../config.ts";
import { clientOptions, type Database, openDatabase, sessionUrl } from "../db/open.ts";
import { startReplicas } from "../db/replicas.ts";
import { loadMigrations, migrateUp, type Migration, migrationStatus } from "../db/migrate/mod.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { ensureFirstSuperuser } from "../services/accounts.ts";
import type { Logger } from "../lib/logging.ts";
import { startServices } from "./runtime.ts";
import { listenForShutdown, type ShutdownSignals } from "../lib/signals.ts";

/** Options for {@link runServer}. */
export interface ServerOptions {
  /** Apply pending migrations (and install the job schema) before serving. */
  migrate?: boolean;
  /** Also run the job worker in this process. */
  work?: boolean;
  /** Also run the cron scheduler in this process. */
  schedule?: boolean;
}

/** A clear, stack-free startup failure (e.g. the port is taken). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/**
 * Serves until SIGINT or SIGTERM, then stops accepting connections, lets
 * in-flight requests finish (up to `SHUTDOWN_TIMEOUT_SECONDS`), stops the
 * job system, closes the pool and the embedded Postgres, and resolves.
 */
export async function runServer(
  config: Config,
  log: Logger,
  options: ServerOptions = {},
): Promise<void> {
  // Listening from the start: a signal during start-up still shuts down cleanly.
  using signals = listenForShutdown({ log });
  const site = config.frontendDir === undefined
    ? undefined
    : await frontendRoot(config.frontendDir);
  if (site instanceof Error) throw new StartupError(site.message);
  const db = await openDatabase(config, { role: "api", log });
  try {
    const migrations = await loadMigrations();
    if (options.migrate) {
      for (const m of await migrateUp(db.sql, migrations)) {
        log.info("migration applied", { migration: m.file });
      }
      await installJobs(sessionUrl(db) ?? db.url, JOBS, log);
    }
    // Refuses unknown or edited migrations, and pending ones, before a single request is served.
    await requireMigrated(db, migrations);
    await ensureFirstSuperuser(db.sql, config, log);
    const services = await startServices({
      config,
      db,
      log,
      jobs: JOBS,
      role: "api",
      work: options.work,
      schedule: options.schedule,
    });
    const analytics = analyticsReports(
      config.analytics.dir,
      log,
      generationResolver(db.sql, config.analytics),
    );
    const events = createLiveEvents({ config, sql: db.sql, log });
    const replicas = config.replicaUrls.length === 0 ? undefined : startReplicas(
      db.sql,
      config.replicaUrls,
      {
        maxLagSeconds: config.replicaMaxLagSeconds,
        stickySeconds: config.replicaStickySeconds,
        log,
        client: clientOptions(config, "api"),
      },
    );
    try {
      const app = createApp({
        config,
        sql: db.sql,
        replicas,
        events,
        migrations,
        log,
        mailer: services.mailer,
        analytics,
        frontendRoot: site,
      });
      await serveUntilSignal(app, config, log, signals, () => events.close());
    } finally {
      await events.close();
      await replicas?.close();
      await analytics.close();
      await services.stop();
    }
  } finally {
    await db.close();
  }
  // Everything is closed: what remains is the runtime's own exit.
  log.info("stopped");
}

async function serveUntilSignal(
  app: ReturnType<typeof createApp>,
  config: Config,
  log: Logger,
  signals: ShutdownSignals,
  beforeDrain: () => Promise<void>,
) {
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: ({ hostname, port }) => {
        const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
        log.info("listening", {
          url,
          console: `${url}${config.consolePath}`,
          docs: `${url}/docs`,
          readyz: `${url}/readyz`,
        });
      },
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

  const signal = await signals.received;
  log.info("shutting down", { signal, timeout_ms: config.shutdownTimeoutMs });
  // Event streams never finish by themselves: end them first, so clients resume elsewhere.
  await beforeDrain();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), config.shutdownTimeoutMs);
  });
  const outcome = await Promise.race([server.shutdown().then(() => "drained" as const), deadline]);
  clearTimeout(timer);
  if (outcome === "timeout") log.warn("shutdown deadline passed; closing with requests in flight");
}

/** Refuses a database whose migrations are not exactly ours, or not all applied. */
export async function requireMigrated(db: Database, migrations?: Migration[]): Promise<void> {
  const { pending } = await migrationStatus(db.sql, migrations ?? await loadMigrations());
  if (pending.length > 0) {
    const files = pending.slice(0, 3).map((m) => m.file).join(", ") +
      (pending.length > 3 ? ` and ${pending.length - 3} more` : "");
    const count = pending.length === 1 ? "1 migration is" : `${pending.length} migrations are`;
    throw new StartupError(
      `the database is not migrated: ${count} pending (${files}); run deno task migrate ` +
        "(tusk migrate) first, then start again",
    );
  }
}
