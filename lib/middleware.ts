/**
 * Request-scoped middleware: request id, the access log, the history
 * context every write of the request carries, and the request's span.
 *
 * @module
 */
import { trace } from "@opentelemetry/api";
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

/**
 * Names the request's server span (made by `Deno.serve` when tracing is on)
 * after its route template, `GET /api/v1/items/{id}`, and adds `http.route`
 * and the request id to it. Installed only when tracing is on.
 *
 * @example
 * ```ts
 * if (config.tracing) app.use(requestId(), traceRoute());
 * ```
 */
export function traceRoute(): MiddlewareHandler<AppEnv> {
  return async function traceRoute(c, next) {
    const span = trace.getActiveSpan();
    if (span !== undefined) {
      span.setAttribute("tusk.request_id", c.get("requestId"));
      const route = handlerRoute(c);
      if (route !== null) {
        // Hono writes parameters as :id (with an optional {regex}); OpenTelemetry and OpenAPI as {id}.
        const template = route.replace(/:(\w+)(?:\{[^}]*\})?/g, "{$1}");
        span.setAttribute("http.route", template);
        span.updateName(`${c.req.method} ${template}`);
      }
    }
    await next();
  };
}
