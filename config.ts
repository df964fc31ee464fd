/**
 * The one place that reads the environment: `loadConfig(env)` parses it with
 * zod into a typed, frozen {@link Config}, or throws a {@link ConfigError}
 * listing every bad variable at once. Variable names follow the FastAPI
 * full-stack template so an existing `.env` carries over.
 *
 * @module
 */
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import { z } from "zod";
import { Email, Password } from "./lib/credentials.ts";
import {
  boolean,
  corsList,
  cron,
  integer,
  isDsn,
  optionalText,
  parseIssuers,
  type TrustedIssuer,
  url,
} from "./lib/env_fields.ts";

/**
 * Deployment environment; anything but `local` refuses placeholder secrets
 * (and `local` too, once HOST is beyond loopback).
 */
export type Environment = "local" | "staging" | "production";

// Nightly, at an hour most deployments are quiet.
const DEFAULT_EXPORT_CRON = "0 3 * * *";

/** Typed settings for every process role. */
export interface Config {
  environment: Environment;
  /** What is allowed but worth a line at start (placeholders in local, a contradiction). */
  warnings: readonly string[];
  projectName: string;
  secretKey: string;
  accessTokenExpireMinutes: number;
  emailResetTokenExpireHours: number;
  frontendHost: string;
  /** `BACKEND_CORS_ORIGINS` plus `FRONTEND_HOST`, without trailing slashes. */
  corsOrigins: string[];
  /**
   * `DATABASE_URL`, else one built from the template's `POSTGRES_*` variables;
   * unset (only in `local`) means "start the embedded Postgres".
   */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  /** API requests wait at most this long for a pool connection (0: unbounded). */
  databaseAcquireTimeoutMs: number;
  /** Longest wait to establish a connection. */
  databaseConnectTimeoutMs: number;
  /**
   * What sits between Tusk and Postgres on `databaseUrl` (`DATABASE_POOLER`):
   * `transaction` for a pooler in transaction mode (PgBouncer, Supabase's or
   * Neon's pooled URLs), where sessions, LISTEN and prepared statements do not last.
   */
  databasePooler: "none" | "transaction";
  /** `DATABASE_DIRECT_URL`: a session-capable URL for LISTEN and migrations behind a pooler. */
  databaseDirectUrl: string | undefined;
  /** Behind a pooler without a direct URL: how often listeners poll instead (`POOLER_POLL_MS`). */
  poolerPollMs: number;
  /** Streaming replicas for reads that may be a little stale (`DATABASE_REPLICA_URL`, comma-separated). */
  replicaUrls: string[];
  /** After a user's write, their reads stay on the primary this long (`REPLICA_STICKY_SECONDS`). */
  replicaStickySeconds: number;
  /** A replica further behind than this is skipped for the primary (`REPLICA_MAX_LAG_SECONDS`). */
  replicaMaxLagSeconds: number;
  firstSuperuser: string | undefined;
  firstSuperuserPassword: string | undefined;
  smtp: {
    host: string | undefined;
    port: number;
    user: string | undefined;
    password: string | undefined;
    tls: boolean;
    ssl: boolean;
  };
  emailsFromEmail: string | undefined;
  emailsFromName: string;
  /** `smtp` when SMTP_HOST is set, `file` in local without it, `off` otherwise. */
  emailTransport: "smtp" | "file" | "off";
  /** Where the `file` transport writes `.eml` and `.html` files. */
  emailsDir: string;
  /** A built single-page app to serve at `/` (`FRONTEND_DIR`); undefined: none. */
  frontendDir: string | undefined;
  /**
   * Where the ops console is mounted (`CONSOLE_PATH`): `/admin`, or `/console` when a
   * frontend is served, whose own `/admin` page (the FastAPI template has one) must win.
   */
  consolePath: string;
  /** Proxies whose `X-Forwarded-For` we believe: IPs or CIDRs (IPv4 or IPv6). */
  trustedProxies: string[];
  /** External identity providers whose bearer tokens are accepted (`AUTH_ISSUERS`). */
  authIssuers: TrustedIssuer[];
  /** Create a local user on first sight of an external identity (`AUTH_AUTO_PROVISION`). */
  authAutoProvision: boolean;
  /** Least time between two JWKS fetches for unknown `kid`s (`AUTH_JWKS_COOLDOWN_SECONDS`). */
  authJwksCooldownSeconds: number;
  /** Error reporting (`SENTRY_DSN`, `SENTRY_ENVIRONMENT`, `SENTRY_RELEASE`); undefined: off. */
  sentry: { dsn: string; environment: string; release: string | undefined } | undefined;
  host: string;
  port: number;
  /** Lowest log level written. */
  logLevel: "debug" | "info" | "warn" | "error";
  /**
   * `OTEL_DENO=true`: Deno exports OpenTelemetry (configured by the standard
   * `OTEL_*` variables, which Deno reads itself) and Tusk adds its own spans.
   */
  tracing: boolean;
  /**
   * Tracing on and `OTEL_DENO_CONSOLE` not `ignore`: Deno exports what goes
   * through `console` as OTLP log records, so log lines go through it one by one.
   */
  logsExported: boolean;
  /** Audit history events older than this many days are deleted hourly; undefined keeps all. */
  historyRetentionDays: number | undefined;
  /** Email log rows older than this many days are deleted hourly. */
  emailLogRetentionDays: number;
  /** How long an `Idempotency-Key` and its response are kept and replayed. */
  idempotencyTtlHours: number;
  /** How long an ops console login lasts (logout, deactivation or demotion end it sooner). */
  consoleSessionHours: number;
  /** A console session unused this long ends (`CONSOLE_IDLE_MINUTES`). */
  consoleIdleMinutes: number;
  /**
   * How recent a token's login must be for a sensitive change (a new email)
   * made without the current password (`SENSITIVE_ACTION_MAX_AGE_MINUTES`).
   */
  sensitiveActionMaxAgeMinutes: number;
  /** Throttling limits; each counts per key within its window. */
  throttle: {
    /** Failed logins per account per 5 minutes. */
    loginPerAccount: number;
    /** Failed logins per client address per 15 minutes. */
    loginPerClient: number;
    /** Recovery emails per email address per hour. */
    recoveryPerEmail: number;
    /** Recovery requests per client address per hour. */
    recoveryPerClient: number;
  };
  /** Root of local state: embedded Postgres data, the generated local secret. */
  dataDir: string;
  analytics: {
    /** `PARQUET_DATA_PATH`: where the export writes its Parquet files and manifest. */
    dir: string;
    /** `ANALYTICS_EXPORT_CRON`: when the scheduler runs the export (UTC); undefined: never. */
    exportCron: string | undefined;
    /**
     * Where a process keeps generations fetched from Postgres when `dir` does
     * not hold them (`<TUSK_DATA_DIR>/analytics-cache`).
     */
    cacheDir: string;
  };
  embeddedPostgres: { dir: string; port: number };
  maxBodyBytes: number;
  shutdownTimeoutMs: number;
  /** Feature flags beyond their table. */
  flags: {
    /**
     * `FLAGS_SERVER_KEY`: the key server-side OFREP clients send (as a bearer
     * token or `X-API-Key`) to evaluate every flag; undefined: only flags
     * marked client_visible can be evaluated over OFREP.
     */
    serverKey: string | undefined;
    /** `FLAG_STALE_DAYS`: a flag nobody evaluated for this long is marked stale. */
    staleDays: number;
  };
  /** Live event streams (`GET /api/v1/events`). */
  events: {
    /** How often each API process looks for new events, in ms (`EVENTS_POLL_MS`). */
    pollMs: number;
    /** Seconds between heartbeat comments on every stream (`EVENTS_HEARTBEAT_SECONDS`). */
    heartbeatSeconds: number;
    /** Streams one API process serves at most; more get a 503 (`EVENTS_MAX_STREAMS`). */
    maxStreams: number;
    /** Bytes a stream may queue for a slow client before it is closed (`EVENTS_MAX_BUFFER_BYTES`). */
    maxBufferBytes: number;
    /** How long a stream ticket stays valid (`EVENTS_TICKET_SECONDS`). */
    ticketSeconds: number;
    /** Channel messages older than this are deleted hourly (`EVENTS_CHANNEL_RETENTION_HOURS`). */
    channelRetentionHours: number;
  };
  jobs: {
    /** Jobs one worker process runs at once, across all queues. */
    concurrency: number;
    /** Most jobs fetched per round trip. */
    batchSize: number;
    /** How long SIGTERM waits for running jobs before releasing them for retry. */
    shutdownTimeoutMs: number;
    /** Poll interval when no notification arrives (an empty queue). */
    pollIntervalMs: number;
    /** How often workers expire stuck jobs and apply retention. */
    superviseIntervalSeconds: number;
    /** How often schedulers evaluate cron schedules. */
    cronIntervalSeconds: number;
  };
}

/** Raised by {@link loadConfig}; `problems` names each bad variable. */
export class ConfigError extends Error {
  /** One line per bad variable, e.g. `PORT: expected an integer from 1 to 65535, got "x"`. */
  readonly problems: string[];

  constructor(problems: string[]) {
    super(
      "Invalid configuration. Fix these environment variables (in the environment or in .env; " +
        "see .env.example):\n" + problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const PLACEHOLDER = "changethis";
// HS256 keys shorter than the hash output weaken the signature (RFC 7518 §3.2).
const MIN_SECRET_BYTES = 32;
const LOCAL_SECRET_FILE = "secret_key";

const schema = z.object({
  ENVIRONMENT: optionalText.pipe(
    z.enum(["local", "staging", "production"], {
      error: (issue) =>
        `ENVIRONMENT: expected local, staging or production, got ${JSON.stringify(issue.input)}`,
    }).default("local"),
  ),
  // The FastAPI template's newer name for the same switch: "development" or unset.
  FASTAPI_ENV: optionalText.pipe(
    z.enum(["development"], {
      error: (issue) =>
        `FASTAPI_ENV: expected development (or unset), got ${JSON.stringify(issue.input)}`,
    }).optional(),
  ),
  PROJECT_NAME: optionalText.transform((v) => v ?? "Tusk"),
  SECRET_KEY: optionalText,
  ACCESS_TOKEN_EXPIRE_MINUTES: integer("ACCESS_TOKEN_EXPIRE_MINUTES", 1, 525_600, 60 * 24 * 8),
  EMAIL_RESET_TOKEN_EXPIRE_HOURS: integer("EMAIL_RESET_TOKEN_EXPIRE_HOURS", 1, 720, 1),
  FRONTEND_HOST: url("FRONTEND_HOST", ["http:", "https:"]).transform((v) =>
    v ?? "http://localhost:5173"
  ),
  BACKEND_CORS_ORIGINS: corsList,
  // SQLAlchemy's driver-qualified schemes (postgresql+psycopg://) name the same database.
  DATABASE_URL: optionalText.transform((v) => v?.replace(/^postgres(?:ql)?\+\w+:/i, "postgresql:"))
    .pipe(url("DATABASE_URL", ["postgres:", "postgresql:"])),
  POSTGRES_SERVER: optionalText,
  POSTGRES_PORT: integer("POSTGRES_PORT", 1, 65535, 5432),
  POSTGRES_USER: optionalText,
  POSTGRES_PASSWORD: optionalText,
  POSTGRES_DB: optionalText,
  DATABASE_POOL_SIZE: integer("DATABASE_POOL_SIZE", 1, 1000, 10),
  DATABASE_STATEMENT_TIMEOUT_MS: integer("DATABASE_STATEMENT_TIMEOUT_MS", 0, 86_400_000, 30_000),
  DATABASE_ACQUIRE_TIMEOUT_MS: integer("DATABASE_ACQUIRE_TIMEOUT_MS", 0, 600_000, 2000),
  DATABASE_CONNECT_TIMEOUT_MS: integer("DATABASE_CONNECT_TIMEOUT_MS", 100, 600_000, 5000),
  DATABASE_DIRECT_URL: optionalText.transform((v) =>
    v?.replace(/^postgres(?:ql)?\+\w+:/i, "postgresql:")
  ).pipe(url("DATABASE_DIRECT_URL", ["postgres:", "postgresql:"])),
  DATABASE_POOLER: optionalText.pipe(
    z.enum(["none", "transaction"], {
      error: "DATABASE_POOLER: use none or transaction (a pooler in transaction mode)",
    }).optional(),
  ),
  POOLER_POLL_MS: integer("POOLER_POLL_MS", 100, 60_000, 1000),
  DATABASE_REPLICA_URL: optionalText.transform((v, ctx) => {
    const urls = (v ?? "").split(",").map((u) => u.trim()).filter((u) => u !== "");
    for (const u of urls) {
      let ok = false;
      try {
        ok = ["postgres:", "postgresql:"].includes(new URL(u).protocol);
      } catch { /* not a URL */ }
      if (!ok) {
        ctx.addIssue({
          code: "custom",
          message: "DATABASE_REPLICA_URL: expected postgres:// URLs, separated by commas",
        });
      }
    }
    return urls;
  }),
  REPLICA_STICKY_SECONDS: integer("REPLICA_STICKY_SECONDS", 0, 3600, 5),
  REPLICA_MAX_LAG_SECONDS: integer("REPLICA_MAX_LAG_SECONDS", 1, 3600, 10),
  // The API's own rules: a first superuser must be one the API would have let anyone create.
  FIRST_SUPERUSER: optionalText.superRefine((v, ctx) => {
    if (v !== undefined && !Email.safeParse(v).success) {
      ctx.addIssue({
        code: "custom",
        message: `FIRST_SUPERUSER: expected an email address (at most 255 characters), got ${
          JSON.stringify(v)
        }`,
      });
    }
  }),
  FIRST_SUPERUSER_PASSWORD: optionalText.refine(
    (v) => v === undefined || Password.safeParse(v).success,
    { message: "FIRST_SUPERUSER_PASSWORD: expected 8 to 128 characters" },
  ),
  SMTP_HOST: optionalText,
  SMTP_PORT: integer("SMTP_PORT", 1, 65535, 587),
  SMTP_USER: optionalText,
  SMTP_PASSWORD: optionalText,
  SMTP_TLS: boolean("SMTP_TLS", true),
  SMTP_SSL: boolean("SMTP_SSL", false),
  EMAILS_FROM_EMAIL: optionalText,
  EMAILS_FROM_NAME: optionalText,
  EMAIL_TRANSPORT: optionalText.pipe(
    z.enum(["smtp", "file", "off"], {
      error: (issue) =>
        `EMAIL_TRANSPORT: expected smtp, file or off, got ${JSON.stringify(issue.input)}`,
    }).optional(),
  ),
  EMAILS_DIR: optionalText.transform((v) => v ?? join("tmp", "app-emails")),
  FRONTEND_DIR: optionalText,
  CONSOLE_PATH: optionalText.superRefine((v, ctx) => {
    if (v === undefined) return;
    const problem = !/^(\/[A-Za-z0-9_-]+)+$/.test(v)
      ? "a path such as /console: one or more /segments of letters, digits, _ and -, no " +
        "trailing /"
      : ["/api", "/docs", "/healthz", "/readyz"].find((p) => v === p || v.startsWith(`${p}/`));
    if (problem !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: problem.startsWith("/")
          ? `CONSOLE_PATH: ${v} is under ${problem}, which the API answers; pick another path`
          : `CONSOLE_PATH: expected ${problem}, got ${JSON.stringify(v)}`,
      });
    }
  }),
  TRUSTED_PROXIES: optionalText.transform((raw, ctx) => {
    const entries = (raw ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
    for (const entry of entries) {
      if (entry === "*") {
        ctx.addIssue({
          code: "custom",
          message: "TRUSTED_PROXIES: * would let every client choose its own address through " +
            "X-Forwarded-For (and so its own throttling key); list your proxies' addresses or " +
            "CIDR ranges instead, e.g. 10.0.0.0/8",
        });
      } else if (!ipaddr.isValid(entry) && !ipaddr.isValidCIDR(entry)) {
        ctx.addIssue({
          code: "custom",
          message: `TRUSTED_PROXIES: ${JSON.stringify(entry)} is not an IP address or a CIDR range`,
        });
      }
    }
    return entries;
  }),
  AUTH_ISSUERS: optionalText.transform((raw, ctx) => parseIssuers(raw, ctx)),
  AUTH_AUTO_PROVISION: boolean("AUTH_AUTO_PROVISION", false),
  AUTH_JWKS_COOLDOWN_SECONDS: integer("AUTH_JWKS_COOLDOWN_SECONDS", 0, 3600, 30),
  SENTRY_DSN: optionalText.refine((v) => v === undefined || isDsn(v), {
    message: "SENTRY_DSN: expected a DSN such as https://PUBLIC_KEY@o0.ingest.sentry.io/PROJECT_ID",
  }),
  SENTRY_ENVIRONMENT: optionalText,
  SENTRY_RELEASE: optionalText,
  HOST: optionalText.transform((v) => v ?? "127.0.0.1"),
  PORT: integer("PORT", 0, 65535, 8000),
  LOG_LEVEL: optionalText.pipe(
    z.enum(["debug", "info", "warn", "error"], {
      error: (issue) =>
        `LOG_LEVEL: expected debug, info, warn or error, got ${JSON.stringify(issue.input)}`,
    }).default("info"),
  ),
  // Deno accepts only "true" and "false" (anything else: a warning, and tracing stays off).
  OTEL_DENO: optionalText.transform((v) => v === "true"),
  // Read by Deno: capture (the default), replace or ignore.
  OTEL_DENO_CONSOLE: optionalText,
  // Unset: 0, read as "keep forever" (an explicit 0 is refused by the range).
  HISTORY_RETENTION_DAYS: integer("HISTORY_RETENTION_DAYS", 1, 36_500, 0),
  EMAIL_LOG_RETENTION_DAYS: integer("EMAIL_LOG_RETENTION_DAYS", 1, 36_500, 90),
  IDEMPOTENCY_TTL_HOURS: integer("IDEMPOTENCY_TTL_HOURS", 1, 8760, 24),
  CONSOLE_SESSION_HOURS: integer("CONSOLE_SESSION_HOURS", 1, 720, 12),
  CONSOLE_IDLE_MINUTES: integer("CONSOLE_IDLE_MINUTES", 1, 43_200, 30),
  SENSITIVE_ACTION_MAX_AGE_MINUTES: integer("SENSITIVE_ACTION_MAX_AGE_MINUTES", 1, 1440, 15),
  LOGIN_LIMIT_PER_ACCOUNT: integer("LOGIN_LIMIT_PER_ACCOUNT", 1, 1_000_000, 5),
  LOGIN_LIMIT_PER_CLIENT: integer("LOGIN_LIMIT_PER_CLIENT", 1, 1_000_000, 20),
  RECOVERY_EMAIL_LIMIT_PER_HOUR: integer("RECOVERY_EMAIL_LIMIT_PER_HOUR", 1, 1_000_000, 3),
  RECOVERY_LIMIT_PER_HOUR: integer("RECOVERY_LIMIT_PER_HOUR", 1, 1_000_000, 10),
  TUSK_DATA_DIR: optionalText.transform((v) => v ?? ".data"),
  PARQUET_DATA_PATH: optionalText,
  ANALYTICS_EXPORT_CRON: cron("ANALYTICS_EXPORT_CRON", DEFAULT_EXPORT_CRON),
  EMBEDDED_PG_DIR: optionalText,
  EMBEDDED_PG_PORT: integer("EMBEDDED_PG_PORT", 1, 65535, 54329),
  MAX_BODY_BYTES: integer("MAX_BODY_BYTES", 1024, 1024 ** 3, 1024 * 1024),
  SHUTDOWN_TIMEOUT_SECONDS: integer("SHUTDOWN_TIMEOUT_SECONDS", 0, 3600, 10),
  FLAGS_SERVER_KEY: optionalText.refine((v) => v === undefined || v.length >= 32, {
    message: "FLAGS_SERVER_KEY: use at least 32 characters (e.g. openssl rand -hex 32)",
  }),
  FLAG_STALE_DAYS: integer("FLAG_STALE_DAYS", 1, 3650, 30),
  EVENTS_POLL_MS: integer("EVENTS_POLL_MS", 5, 10_000, 25),
  EVENTS_HEARTBEAT_SECONDS: integer("EVENTS_HEARTBEAT_SECONDS", 1, 3600, 15),
  EVENTS_MAX_STREAMS: integer("EVENTS_MAX_STREAMS", 1, 1_000_000, 10_000),
  EVENTS_MAX_BUFFER_BYTES: integer("EVENTS_MAX_BUFFER_BYTES", 4096, 1_073_741_824, 1_048_576),
  EVENTS_TICKET_SECONDS: integer("EVENTS_TICKET_SECONDS", 5, 3600, 30),
  EVENTS_CHANNEL_RETENTION_HOURS: integer("EVENTS_CHANNEL_RETENTION_HOURS", 1, 87_600, 24),
  WORKER_CONCURRENCY: integer("WORKER_CONCURRENCY", 1, 10_000, 20),
  WORKER_BATCH_SIZE: integer("WORKER_BATCH_SIZE", 1, 5000, 100),
  WORKER_SHUTDOWN_TIMEOUT: integer("WORKER_SHUTDOWN_TIMEOUT", 0, 3600, 30),
  WORKER_POLL_INTERVAL_MS: integer("WORKER_POLL_INTERVAL_MS", 50, 60_000, 1000),
  JOBS_SUPERVISE_INTERVAL_SECONDS: integer("JOBS_SUPERVISE_INTERVAL_SECONDS", 1, 3600, 30),
  SCHEDULER_INTERVAL_SECONDS: integer("SCHEDULER_INTERVAL_SECONDS", 1, 45, 5),
});

type Parsed = z.infer<typeof schema>;

/** Every environment variable {@link loadConfig} reads (docs/configuration.md documents each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

const POSTGRES_PARTS = ["POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"];

/**
 * The FastAPI template's database settings: `DATABASE_URL` wins; without it,
 * `POSTGRES_SERVER` and friends build one; without either, the embedded Postgres.
 */
function databaseUrlFrom(
  e: Parsed,
  env: Record<string, string | undefined>,
  problems: string[],
): string | undefined {
  if (e.DATABASE_URL !== undefined) return e.DATABASE_URL;
  if (e.POSTGRES_SERVER === undefined) {
    const stray = POSTGRES_PARTS.filter((name) => (env[name] ?? "").trim() !== "");
    if (stray.length > 0) {
      problems.push(
        `POSTGRES_SERVER: required with ${stray.join(", ")} (or set DATABASE_URL; ` +
          `unset them all to use the embedded Postgres)`,
      );
    }
    return undefined;
  }
  if (e.POSTGRES_USER === undefined) {
    problems.push("POSTGRES_USER: required with POSTGRES_SERVER");
    return undefined;
  }
  const url = new URL("postgresql://host");
  url.hostname = e.POSTGRES_SERVER;
  url.port = String(e.POSTGRES_PORT);
  url.username = encodeURIComponent(e.POSTGRES_USER);
  if (e.POSTGRES_PASSWORD) url.password = encodeURIComponent(e.POSTGRES_PASSWORD);
  url.pathname = `/${encodeURIComponent(e.POSTGRES_DB ?? "")}`;
  return url.toString().replace(/\/$/, "");
}

/** Secrets and passwords that must not be placeholders outside `local`. */
function productionProblems(env: Parsed, databaseUrl: string | undefined): string[] {
  const problems: string[] = [];
  const secret = env.SECRET_KEY;
  if (secret === undefined) {
    problems.push(`SECRET_KEY: required when ENVIRONMENT=${env.ENVIRONMENT}`);
  } else if (secret === PLACEHOLDER) {
    problems.push(`SECRET_KEY: the placeholder "${PLACEHOLDER}" is not allowed outside local`);
  } else if (new TextEncoder().encode(secret).length < MIN_SECRET_BYTES) {
    problems.push(
      `SECRET_KEY: must be at least ${MIN_SECRET_BYTES} bytes outside local ` +
        `(generate one with: openssl rand -base64 48)`,
    );
  }
  if (env.FIRST_SUPERUSER_PASSWORD === PLACEHOLDER) {
    problems.push(
      `FIRST_SUPERUSER_PASSWORD: the placeholder "${PLACEHOLDER}" is not allowed outside local`,
    );
  }
  const source = env.DATABASE_URL === undefined ? "POSTGRES_PASSWORD" : "DATABASE_URL";
  if (databaseUrl === undefined) {
    problems.push(
      `DATABASE_URL: required when ENVIRONMENT=${env.ENVIRONMENT}; the embedded Postgres is ` +
        `for local development only (or set POSTGRES_SERVER, POSTGRES_USER, ...)`,
    );
  } else if (decodeURIComponent(new URL(databaseUrl).password) === PLACEHOLDER) {
    problems.push(
      `${source}: the placeholder password "${PLACEHOLDER}" is not allowed outside local`,
    );
  }
  if (env.SMTP_PASSWORD === PLACEHOLDER) {
    problems.push(`SMTP_PASSWORD: the placeholder "${PLACEHOLDER}" is not allowed outside local`);
  }
  return problems;
}

/** Whether `host` (HOST) is a loopback address, which no other machine can reach. */
function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === "loopback";
}

/**
 * In `local`, placeholders are welcome, but only while the API is out of
 * other machines' reach: the template's `changethis` would be a superuser
 * password anyone could use, and a signing key anyone could forge tokens with.
 */
function exposedProblems(env: Parsed): string[] {
  const where = `the API listens beyond loopback (HOST=${env.HOST})`;
  const problems: string[] = [];
  if (env.SECRET_KEY === PLACEHOLDER) {
    problems.push(
      `SECRET_KEY: the placeholder "${PLACEHOLDER}" is not allowed when ${where}; unset it ` +
        `(local keeps a generated one) or set a real key (openssl rand -base64 48)`,
    );
  }
  if (env.FIRST_SUPERUSER_PASSWORD === PLACEHOLDER) {
    problems.push(
      `FIRST_SUPERUSER_PASSWORD: the placeholder "${PLACEHOLDER}" is not allowed when ${where}; ` +
        `choose a real password`,
    );
  }
  return problems;
}

/**
 * Lines for the start's log: placeholders that local allows (the template
 * warns of them in development too), and `FASTAPI_ENV=development` beside an
 * `ENVIRONMENT` that says otherwise (ENVIRONMENT wins).
 */
function startWarnings(e: Parsed, env: Record<string, string | undefined>): string[] {
  const warnings: string[] = [];
  const explicit = (env.ENVIRONMENT ?? "").trim() !== "";
  if (e.FASTAPI_ENV === "development" && explicit && e.ENVIRONMENT !== "local") {
    warnings.push(
      `FASTAPI_ENV=development and ENVIRONMENT=${e.ENVIRONMENT} disagree: ENVIRONMENT wins ` +
        `(${e.ENVIRONMENT}); drop FASTAPI_ENV, or set ENVIRONMENT=local`,
    );
  }
  if (e.ENVIRONMENT === "local") {
    const placeholders = ["SECRET_KEY", "FIRST_SUPERUSER_PASSWORD", "POSTGRES_PASSWORD"]
      .filter((name) => e[name as keyof Parsed] === PLACEHOLDER);
    if (placeholders.length > 0) {
      warnings.push(
        `${placeholders.join(", ")} ${placeholders.length === 1 ? "is" : "are"} the placeholder ` +
          `"${PLACEHOLDER}": fine for local development, refused in staging and production`,
      );
    }
  }
  return warnings;
}

/**
 * In `local`, a missing `SECRET_KEY` is generated once and kept under the
 * data directory, so tokens survive restarts without any set-up.
 */
function localSecret(dataDir: string): string {
  const path = join(dataDir, LOCAL_SECRET_FILE);
  try {
    try {
      return Deno.readTextFileSync(path).trim();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const bytes = crypto.getRandomValues(new Uint8Array(48));
    const secret = btoa(String.fromCharCode(...bytes));
    Deno.mkdirSync(dataDir, { recursive: true });
    Deno.writeTextFileSync(path, secret + "\n", { mode: 0o600 });
    return secret;
  } catch (error) {
    // The production permission sets (deno task start, ...) may not write .data, nor read outside.
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError([
        `SECRET_KEY: not set, and this process may not keep a generated one in ${path} ` +
        `(${error.message.split(",")[0]}); set SECRET_KEY (openssl rand -base64 48), or run ` +
        `deno task dev once to generate it`,
      ]);
    }
    throw error;
  }
}

/**
 * Parses `env` into a {@link Config}; throws {@link ConfigError} naming every
 * bad variable.
 *
 * @example
 * ```ts
 * const config = loadConfig(Deno.env.toObject());
 * console.log(config.port); // 8000
 * ```
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = schema.safeParse(env);
  // Read from the raw values, so it is reported with any bad value of another variable.
  const set = (name: string) => (env[name] ?? "").trim() !== "";
  const pairs = set("FIRST_SUPERUSER") === set("FIRST_SUPERUSER_PASSWORD")
    ? []
    : ["FIRST_SUPERUSER and FIRST_SUPERUSER_PASSWORD: set both or neither"];
  if (!result.success) {
    throw new ConfigError([
      ...result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? "");
        return issue.message.startsWith(`${name}:`) ? issue.message : `${name}: ${issue.message}`;
      }),
      ...pairs,
    ]);
  }
  const e = result.data;
  const problems: string[] = [...pairs];
  const databaseUrl = databaseUrlFrom(e, env, problems);
  if (e.ENVIRONMENT !== "local") problems.push(...productionProblems(e, databaseUrl));
  else if (!isLoopback(e.HOST)) problems.push(...exposedProblems(e));
  if (e.SMTP_TLS && e.SMTP_SSL && env.SMTP_TLS !== undefined) {
    problems.push("SMTP_TLS and SMTP_SSL: choose one (STARTTLS or implicit TLS), not both");
  }
  const emailTransport = e.EMAIL_TRANSPORT ??
    (e.SMTP_HOST ? "smtp" : e.ENVIRONMENT === "local" ? "file" : "off");
  if (emailTransport === "smtp" && e.SMTP_HOST === undefined) {
    problems.push("SMTP_HOST: required when EMAIL_TRANSPORT=smtp");
  }
  if (emailTransport === "smtp" && e.EMAILS_FROM_EMAIL === undefined) {
    problems.push("EMAILS_FROM_EMAIL: required to send email over SMTP (the sender address)");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const corsOrigins = [...new Set([...e.BACKEND_CORS_ORIGINS, e.FRONTEND_HOST])];
  const warnings = startWarnings(e, env);
  return Object.freeze({
    environment: e.ENVIRONMENT,
    warnings,
    projectName: e.PROJECT_NAME,
    secretKey: e.SECRET_KEY ?? localSecret(e.TUSK_DATA_DIR),
    accessTokenExpireMinutes: e.ACCESS_TOKEN_EXPIRE_MINUTES,
    emailResetTokenExpireHours: e.EMAIL_RESET_TOKEN_EXPIRE_HOURS,
    frontendHost: e.FRONTEND_HOST,
    corsOrigins,
    databaseUrl,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    databaseAcquireTimeoutMs: e.DATABASE_ACQUIRE_TIMEOUT_MS,
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    // A direct URL beside DATABASE_URL says DATABASE_URL is the pooled one.
    databasePooler: e.DATABASE_POOLER ??
      (e.DATABASE_DIRECT_URL === undefined ? "none" : "transaction"),
    databaseDirectUrl: e.DATABASE_DIRECT_URL,
    poolerPollMs: e.POOLER_POLL_MS,
    replicaUrls: e.DATABASE_REPLICA_URL,
    replicaStickySeconds: e.REPLICA_STICKY_SECONDS,
    replicaMaxLagSeconds: e.REPLICA_MAX_LAG_SECONDS,
    firstSuperuser: e.FIRST_SUPERUSER,
    firstSuperuserPassword: e.FIRST_SUPERUSER_PASSWORD,
    smtp: {
      host: e.SMTP_HOST,
      port: e.SMTP_PORT,
      user: e.SMTP_USER,
      password: e.SMTP_PASSWORD,
      // Implicit TLS (SMTP_SSL) replaces STARTTLS; the template does the same.
      tls: e.SMTP_SSL ? false : e.SMTP_TLS,
      ssl: e.SMTP_SSL,
    },
    emailsFromEmail: e.EMAILS_FROM_EMAIL,
    emailsFromName: e.EMAILS_FROM_NAME ?? e.PROJECT_NAME,
    emailTransport,
    emailsDir: e.EMAILS_DIR,
    frontendDir: e.FRONTEND_DIR,
    consolePath: e.CONSOLE_PATH ?? (e.FRONTEND_DIR === undefined ? "/admin" : "/console"),
    trustedProxies: e.TRUSTED_PROXIES,
    authIssuers: e.AUTH_ISSUERS,
    authAutoProvision: e.AUTH_AUTO_PROVISION,
    authJwksCooldownSeconds: e.AUTH_JWKS_COOLDOWN_SECONDS,
    sentry: e.SENTRY_DSN === undefined ? undefined : {
      dsn: e.SENTRY_DSN,
      environment: e.SENTRY_ENVIRONMENT ?? e.ENVIRONMENT,
      release: e.SENTRY_RELEASE,
    },
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    tracing: e.OTEL_DENO,
    logsExported: e.OTEL_DENO && e.OTEL_DENO_CONSOLE !== "ignore",
    historyRetentionDays: e.HISTORY_RETENTION_DAYS || undefined,
    emailLogRetentionDays: e.EMAIL_LOG_RETENTION_DAYS,
    idempotencyTtlHours: e.IDEMPOTENCY_TTL_HOURS,
    consoleSessionHours: e.CONSOLE_SESSION_HOURS,
    consoleIdleMinutes: e.CONSOLE_IDLE_MINUTES,
    sensitiveActionMaxAgeMinutes: e.SENSITIVE_ACTION_MAX_AGE_MINUTES,
    throttle: {
      loginPerAccount: e.LOGIN_LIMIT_PER_ACCOUNT,
      loginPerClient: e.LOGIN_LIMIT_PER_CLIENT,
      recoveryPerEmail: e.RECOVERY_EMAIL_LIMIT_PER_HOUR,
      recoveryPerClient: e.RECOVERY_LIMIT_PER_HOUR,
    },
    dataDir: e.TUSK_DATA_DIR,
    analytics: {
      dir: e.PARQUET_DATA_PATH ?? join(e.TUSK_DATA_DIR, "parquet"),
      exportCron: e.ANALYTICS_EXPORT_CRON,
      cacheDir: join(e.TUSK_DATA_DIR, "analytics-cache"),
    },
    embeddedPostgres: {
      dir: e.EMBEDDED_PG_DIR ?? join(e.TUSK_DATA_DIR, "postgres"),
      port: e.EMBEDDED_PG_PORT,
    },
    maxBodyBytes: e.MAX_BODY_BYTES,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    flags: { serverKey: e.FLAGS_SERVER_KEY, staleDays: e.FLAG_STALE_DAYS },
    events: {
      pollMs: e.EVENTS_POLL_MS,
      heartbeatSeconds: e.EVENTS_HEARTBEAT_SECONDS,
      maxStreams: e.EVENTS_MAX_STREAMS,
      maxBufferBytes: e.EVENTS_MAX_BUFFER_BYTES,
      ticketSeconds: e.EVENTS_TICKET_SECONDS,
      channelRetentionHours: e.EVENTS_CHANNEL_RETENTION_HOURS,
    },
    jobs: {
      concurrency: e.WORKER_CONCURRENCY,
      batchSize: e.WORKER_BATCH_SIZE,
      shutdownTimeoutMs: e.WORKER_SHUTDOWN_TIMEOUT * 1000,
      pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
      superviseIntervalSeconds: e.JOBS_SUPERVISE_INTERVAL_SECONDS,
      cronIntervalSeconds: e.SCHEDULER_INTERVAL_SECONDS,
    },
  });
}
