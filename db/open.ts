/**
 * Opens the process's database: `DATABASE_URL` when set, otherwise the
 * embedded Postgres (started, or attached to when already running).
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logging.ts";
import { type ClientOptions, createSql, type Role, sessionOf, type Sql } from "./client.ts";
import { connectError } from "./connection_errors.ts";
import { guardDriverCrashes } from "./driver_guard.ts";
import {
  type EmbeddedPostgres,
  EmbeddedPostgresError,
  startEmbeddedPostgres,
} from "./embedded/mod.ts";

/** An open database: the pool, its URL, and `close()` for shutdown. */
export interface Database {
  sql: Sql;
  url: string;
  /** Set when the embedded server is in use. */
  embedded: EmbeddedPostgres | undefined;
  /** Ends the pool, then stops the embedded server if this process owns it. */
  close(): Promise<void>;
}

/**
 * A pool's options for `role` from the configuration (size, timeouts,
 * tracing), for the process's pool and for pools on replicas.
 */
export function clientOptions(config: Config, role: Role): ClientOptions {
  return {
    role,
    poolSize: config.databasePoolSize,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    // Requests must not hang on the database; jobs and commands may wait their turn.
    acquireTimeoutMs: role === "api" ? config.databaseAcquireTimeoutMs : undefined,
    tracing: config.tracing,
  };
}

/**
 * Opens the pool for `role`, starting the embedded server when needed, and
 * checks that the database answers: one that cannot be reached, does not
 * exist or refuses the role is a {@link DatabaseConnectError} that says so.
 *
 * @example
 * ```ts
 * const db = await openDatabase(config, { role: "cli", log });
 * try { await db.sql`select 1`; } finally { await db.close(); }
 * ```
 */
export async function openDatabase(
  config: Config,
  options: { role: Role; log: Logger },
): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (url === undefined) {
    // Only `deno task dev` and the command-line tasks may start processes and write .data.
    if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
      throw new EmbeddedPostgresError(
        "DATABASE_URL is not set, so this would start the embedded PostgreSQL, which production " +
          "roles (deno task start, start-worker, start-scheduler, the image) never do: use " +
          "deno task dev for local development, or set DATABASE_URL",
      );
    }
    embedded = await startEmbeddedPostgres({
      dir: config.embeddedPostgres.dir,
      port: config.embeddedPostgres.port,
      log: (msg) => options.log.info(msg),
      warn: (msg) => options.log.warn(msg),
    });
    url = embedded.url;
  }
  const sql = createSql(url, {
    ...clientOptions(config, options.role),
    pooler: config.databasePooler,
    directUrl: config.databaseDirectUrl,
    pollMs: config.poolerPollMs,
  });
  const unguard = guardDriverCrashes(options.log);
  try {
    await sql`select 1`;
  } catch (error) {
    await sql.end({ timeout: 1 });
    unguard();
    await embedded?.stop();
    throw connectError(error, url) ?? error;
  }
  return {
    sql,
    url,
    embedded,
    async close() {
      await sql.end({ timeout: 5 });
      unguard();
      await embedded?.stop();
    },
  };
}

/**
 * A URL whose connections keep their session (settings, LISTEN): the
 * database's own, or behind a transaction pooler `DATABASE_DIRECT_URL`, or
 * undefined without one.
 */
export function sessionUrl(db: Pick<Database, "sql" | "url">): string | undefined {
  const sessions = sessionOf(db.sql);
  return sessions.lasting ? db.url : sessions.directUrl;
}
