/**
 * What went wrong when the database could not be opened, in one line a
 * newcomer can act on: which server, database and role (the password
 * masked), the cause in words, and what to check.
 *
 * @module
 */

/** The database could not be reached or refused us; the message says why and what to check. */
export class DatabaseConnectError extends Error {
  /** Postgres's SQLSTATE, or the socket's error code (`ECONNREFUSED`, `CONNECT_TIMEOUT`, ...). */
  readonly code: string | undefined;

  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = "DatabaseConnectError";
    this.code = code;
  }
}

/** `url` with its password replaced by `***`, for messages and logs. */
export function maskedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unreadable URL)";
  }
}

interface Target {
  where: string;
  host: string;
  database: string;
  user: string;
}

function target(url: string): Target {
  const parsed = new URL(url);
  const host = `${parsed.hostname || "localhost"}:${parsed.port || "5432"}`;
  return {
    where: maskedUrl(url),
    host,
    database: decodeURIComponent(parsed.pathname.slice(1)) || "(the role's name)",
    user: decodeURIComponent(parsed.username) || "(the OS user)",
  };
}

/** The cause and the advice for one error code; undefined for errors that are not about connecting. */
function explain(code: string, message: string, t: Target): [string, string] | undefined {
  switch (code) {
    case "ECONNREFUSED":
      return [
        `connection refused: nothing listens on ${t.host}`,
        "check that PostgreSQL is running there and that the URL's host and port are right",
      ];
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return [`the host name in ${t.host} does not resolve`, "check the URL's host"];
    case "ETIMEDOUT":
    case "CONNECT_TIMEOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return [
        `no answer from ${t.host} in time`,
        "check the host and port, and that no firewall drops the connection " +
        "(DATABASE_CONNECT_TIMEOUT_MS sets how long to wait)",
      ];
    case "3D000":
      return [
        `the database "${t.database}" does not exist on ${t.host}`,
        `create it (createdb ${t.database}) or fix the URL's database name`,
      ];
    case "28P01":
      return [
        `password authentication failed for the role "${t.user}"`,
        "check the URL's user and password",
      ];
    case "28000":
      if (/no encryption/i.test(message)) {
        return [
          "the server requires TLS for this connection",
          "add ?sslmode=require to DATABASE_URL",
        ];
      }
      return [
        /does not exist/i.test(message)
          ? `the role "${t.user}" does not exist on ${t.host}`
          : `the server refused the role "${t.user}" (${message})`,
        "check the URL's user, and the server's pg_hba.conf",
      ];
    case "42501":
      return [
        `the role "${t.user}" may not connect to "${t.database}"`,
        `GRANT CONNECT ON DATABASE ${t.database} TO ${t.user}`,
      ];
    case "08P01":
      // PgBouncer's answer to the session settings Tusk sends at connect.
      if (/unsupported startup parameter/i.test(message)) {
        return [
          `${t.host} looks like a connection pooler (${message})`,
          "set DATABASE_POOLER=transaction (and DATABASE_DIRECT_URL to the server itself, if you " +
          "have its address)",
        ];
      }
      return undefined;
    case "57P03":
      return ["the server is starting up or shutting down", "try again in a moment"];
    case "53300":
      return [
        "the server has no connection slot left",
        "lower DATABASE_POOL_SIZE or raise max_connections",
      ];
  }
  if (/^ERR_(SSL|TLS)|^E?PROTO/.test(code) || /\b(SSL|TLS)\b/.test(message)) {
    return [
      `TLS failed (${message})`,
      "the server may not offer TLS (drop sslmode=require) or its certificate is not trusted",
    ];
  }
  return undefined;
}

/**
 * The {@link DatabaseConnectError} for `error`, met while opening `url`, or
 * undefined when `error` is not about reaching the database (a bug, say).
 *
 * @example
 * ```ts
 * try { await sql`select 1`; } catch (e) { throw connectError(e, url) ?? e; }
 * ```
 */
export function connectError(error: unknown, url: string): DatabaseConnectError | undefined {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" ? e.message : String(error);
  const t = target(url);
  const words = explain(code ?? "", message, t);
  if (words === undefined) return undefined;
  const [cause, check] = words;
  return new DatabaseConnectError(
    `cannot connect to the database ${t.where}: ${cause}; ${check}`,
    code,
  );
}
