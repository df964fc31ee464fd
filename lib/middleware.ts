/**
 * Request-scoped middleware: request id, the access log, and the history
 * context every write of the request carries.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Sql } from "../db/client.ts";
import { runInHistoryContext } from "../db/history_context.ts";
import type { AppEnv } from "./http.ts";
import type { Logger } from "./logging.ts";

/** Header carrying the request id, in and out. */
export const REQUEST_ID_HEADER = "X-Request-Id";

// Long enough for a UUID or a trace id, restricted so ids are safe to log and echo.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

/**
 * Honours a sane incoming `X-Request-Id` (from a proxy or client), otherwise
 * generates one; stores it as `c.get("requestId")` and echoes it.
 *
 * @example
 * ```ts
 * app.use(requestId());
 * ```
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestId(c, next) {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, id);
  };
}

/** The route pattern that answers (middleware patterns are "*"), or null. */
function handlerRoute(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string | null {
  const route = routePath(c, -1);
  return route === "*" || route === "/*" ? null : route;
}

/**
 * Runs the rest of the request in a history context: request id, method and
 * route (the user is added once authenticated), so audit events say which
 * request made them.
 *
 * @example
 * ```ts
 * app.use(requestId(), historyContext(sql));
 * ```
 */
export function historyContext(sql: Sql): MiddlewareHandler<AppEnv> {
  return async function historyContext(c, next) {
    const metadata = {
      request_id: c.get("requestId"),
      method: c.req.method,
      route: handlerRoute(c) ?? undefined,
    };
    await runInHistoryContext(metadata, next, { sql });
  };
}

/**
 * Writes one JSON line per request: method, route pattern, path, status,
 * duration in ms and request id.
 *
 * @example
 * ```ts
 * app.use(accessLog(logger));
 * ```
 */
export function accessLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async function accessLog(c, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      log.info("request", {
        method: c.req.method,
        route: handlerRoute(c),
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        request_id: c.get("requestId"),
      });
    }
  };
}
