/**
 * The postgres.js client: one pool per process, created by a function (never
 * at import time) and closed by the entry point.
 *
 * @module
 */
import postgres from "postgres";
import { boundedAcquire } from "./acquire.ts";
import { ambientTransactions } from "./ambient.ts";
import { historyAware } from "./history_context.ts";
import { traced } from "./traced.ts";

/** A postgres.js pool or transaction handle. */
export type Sql = postgres.Sql;

/** A transaction handle passed to `sql.begin()` callbacks. */
export type Tx = postgres.TransactionSql;

/** Which process role owns the pool; shows as `application_name` in `pg_stat_activity`. */
export type Role = "api" | "worker" | "scheduler" | "cli" | "test";

/** Pool options taken from config. */
export interface ClientOptions {
  role: Role;
  poolSize?: number;
  /** Per-statement limit in ms; 0 disables it. */
  statementTimeoutMs?: number;
  /** Longest wait for a pool connection, in ms (see `acquire.ts`); unset: no bound. */
  acquireTimeoutMs?: number;
  /** Longest wait for a new connection to be established, in ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Trace queries and transactions with OpenTelemetry (see `traced.ts`). */
  tracing?: boolean;
  /**
   * `transaction`: `url` is a pooler in transaction mode, so no prepared
   * statements and no session settings at connect (the pooler would refuse
   * them); LISTEN goes to `directUrl`, or is replaced by polling without one.
   */
  pooler?: "none" | "transaction";
  /** A session-capable URL for LISTEN behind a pooler. */
  directUrl?: string;
  /** Behind a pooler without `directUrl`: how often listeners poll instead, in ms (default 1000). */
  pollMs?: number;
}

/** How a pool's connections may be used: see {@link sessionOf}. */
export interface Sessions {
  /** False behind a transaction pooler: nothing lasts beyond a transaction. */
  lasting: boolean;
  /** Behind a pooler: where session-bound connections (LISTEN) go; none means poll instead. */
  directUrl: string | undefined;
  pollMs: number;
}

const sessions = new WeakMap<Sql, Sessions>();

/** How `sql`'s connections may be used (a pool not made by {@link createSql}: as a plain one). */
export function sessionOf(sql: Sql): Sessions {
  return sessions.get(sql) ?? { lasting: true, directUrl: undefined, pollMs: 1000 };
}

/**
 * Session settings of every Tusk connection. JIT compilation is off: Tusk's statements are short,
 * and JIT pays off only for long analytical ones (Tusk sends those to DuckDB). Where it is built
 * in (Debian's PostgreSQL has it; the embedded one does not) it compiles any statement the planner
 * costs high, and a planner without statistics costs high what reads little: one request's audit
 * events took 213 ms on PostgreSQL 15 with no statistics, 200 of them compiling, against 19 ms
 * without JIT (BENCHMARKS.md, "Audit history at depth").
 */
export const SESSION_SETTINGS = { jit: "off" } as const;

/**
 * Creates the process's pool, history-aware (see `history_context.ts`), so
 * writes made in a request, job or command carry their context to the audit
 * triggers. Connections open lazily on first query.
 *
 * @example
 * ```ts
 * const sql = createSql(config.databaseUrl!, { role: "api", poolSize: 10 });
 * await sql`select 1`;
 * await sql.end();
 * ```
 */
export function createSql(url: string, options: ClientOptions): Sql {
  const max = options.poolSize ?? 10;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const pooled = options.pooler === "transaction";
  const pool = postgres(url, {
    max,
    // Recycle idle connections so a quiet process does not pin server slots.
    idle_timeout: 60,
    connect_timeout: connectTimeoutMs / 1000,
    backoff: reconnectDelaySeconds,
    onnotice: () => {},
    // Behind a transaction pooler a named statement may land on another server connection.
    prepare: !pooled,
    // A pooler refuses startup parameters it does not track (jit, statement_timeout): set those
    // on the role instead (docs/scaling.md).
    connection: pooled ? { application_name: `tusk-${options.role}` } : {
      ...SESSION_SETTINGS,
      application_name: `tusk-${options.role}`,
      statement_timeout: statementTimeoutMs,
    },
  });
  const bounded = options.acquireTimeoutMs
    ? boundedAcquire(pool, {
      connections: max,
      waitMs: options.acquireTimeoutMs,
      // Past its statement timeout and a connect timeout, a query's connection died unnoticed.
      strandedMs: statementTimeoutMs > 0 ? statementTimeoutMs + connectTimeoutMs + 5000 : undefined,
    })
    : pool;
  // Traced above the bounded wait (a span includes waiting for a connection), and below the
  // wrappers that hand transactions around, so the handles they keep are traced ones.
  const observed = options.tracing
    ? traced(bounded, {
      database: pool.options.database,
      poolName: `tusk-${options.role}`,
      max,
    })
    : bounded;
  const sql = historyAware(ambientTransactions(observed));
  sessions.set(sql, {
    lasting: !pooled,
    directUrl: pooled ? options.directUrl : undefined,
    pollMs: options.pollMs ?? 1000,
  });
  return sql;
}

/**
 * Seconds a connection waits before its next connection attempt, after
 * `retries` failed ones in a row. postgres.js's default grows to 20 s, so
 * requests would keep waiting long after the server is back; a reconnect is
 * only tried when a query needs the connection, so a short cap is cheap.
 */
function reconnectDelaySeconds(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 0.5) * (0.5 + Math.random() / 2);
}

/** The database did not answer a ping in time (see {@link ping}). */
export class PingTimeoutError extends Error {
  readonly code = "PING_TIMEOUT";

  constructor(ms: number) {
    super(`The database gave no answer within ${ms} ms`);
    this.name = "PingTimeoutError";
  }
}

/**
 * Resolves when the database answers a trivial query, rejects after
 * `timeoutMs` otherwise, so health checks never hang on a dead server.
 */
export async function ping(sql: Sql, timeoutMs = 2000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PingTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    await Promise.race([sql`select 1`, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Codes of errors that mean "the database cannot be reached right now", not
 * "this request is wrong": postgres.js's own, the socket's, and Postgres's
 * connection exceptions, shutdowns, start-up and connection limits.
 */
const UNAVAILABLE = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ACQUIRE_TIMEOUT", // ours: no pool connection became free in time
  "QUERY_STRANDED", // ours: a query's connection died without telling it
  "PING_TIMEOUT", // ours: no answer to a health check's ping in time
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down, recovering)
  "53300", // too_many_connections
]);

/** True when `error` says the database is unreachable or unavailable (not a query's fault). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // Class 08: connection exceptions.
  if (typeof code === "string") return UNAVAILABLE.has(code) || code.startsWith("08");
  // node-postgres (under pg-boss) says a connection dropped only in words.
  // (pg-boss passes some on as plain objects, with its queue name appended to the message.)
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" && /^Connection terminated/.test(message);
}

/** True for a Postgres unique violation (SQLSTATE 23505), e.g. a duplicate email. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "23505";
}

/**
 * `url` pointing at another database on the same server.
 *
 * @example
 * ```ts
 * databaseUrl("postgres://u@h:5432/postgres", "tusk_t_1"); // postgres://u@h:5432/tusk_t_1
 * ```
 */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** `where a and b ...` over the conditions given (undefined ones left out), or nothing. */
export function whereAll(
  sql: Sql | Tx,
  conditions: (postgres.PendingQuery<postgres.Row[]> | undefined)[],
): postgres.PendingQuery<postgres.Row[]> {
  const given = conditions.filter((c) => c !== undefined);
  if (given.length === 0) return sql``;
  return given.slice(1).reduce((all, c) => sql`${all} and ${c}`, sql`where ${given[0]!}`);
}
