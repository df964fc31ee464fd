/**
 * Shared HTTP types and the router factory every resource uses, so all
 * routers validate, match trailing slashes and report errors the same way.
 *
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AnalyticsReports } from "../analytics/reports.ts";
import type { Config } from "../config.ts";
import type { Sql } from "../db/client.ts";
import type { Migration } from "../db/migrate/mod.ts";
import type { Replicas } from "../db/replicas.ts";
import type { User } from "../db/users.ts";
import type { Mailer } from "../emails/mailer.ts";
import type { Logger } from "../lib/logging.ts";
import type { LiveEvents } from "../services/live/hub.ts";
import { validationHook } from "./validation.ts";

/** Per-request values set by the app's middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** The pattern of the route that answers, or null (set by `edge()`: see `handlerRoute()`). */
    route: string | null;
    /** Set by the `currentUser` middleware on authenticated routes. */
    user: User;
    /** When the bearer token's login happened (its `iat`; `auth_time` for OpenID), if it says. */
    authenticatedAt: Date | undefined;
  };
}

/**
 * A Hono sub-app with zod-openapi validation that renders FastAPI-style 422s
 * and matches `/path` and `/path/` alike (no redirects).
 *
 * @example
 * ```ts
 * const router = newRouter();
 * router.openapi(route, (c) => c.json(true, 200));
 * ```
 */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ strict: false, defaultHook: validationHook });
}

/** What `createApp` needs; tests pass their own. */
export interface AppDeps {
  config: Config;
  sql: Sql;
  /** The migrations this code ships; `/readyz` reports any not applied. */
  migrations: Migration[];
  log: Logger;
  mailer: Mailer;
  /** The analytics reports (DuckDB over the exported files), opened on first use. */
  analytics: AnalyticsReports;
  /** The process's live event streams (`GET /api/v1/events`); closed before the server drains. */
  events: LiveEvents;
  /** Read replicas (`DATABASE_REPLICA_URL`) for the routes that read through `readSql()`. */
  replicas?: Replicas;
  /** The real path of a built frontend to serve at `/` (checked by `frontendRoot()`). */
  frontendRoot?: string;
}
