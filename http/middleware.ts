/**
 * Request-scoped middleware: the history context every write of the
 * request carries, and the request's span. (The request id, CORS, security
 * headers and access log are `edge()`, in `edge.ts`.)
 *
 * @module
 */
import { trace } from "@opentelemetry/api";
import type { MiddlewareHandler } from "hono";
import type { Sql } from "../db/client.ts";
import { runInRootContext } from "../db/history_context.ts";
import type { AppEnv } from "./router.ts";

/**
 * Runs the rest of the request in a root history context: request id, method
 * and route (the user is added once authenticated), so audit events say which
 * request made them, and nothing else does.
 *
 * @example
 * ```ts
 * app.use(edge(options), historyContext(sql));
 * ```
 */
export function historyContext(sql: Sql): MiddlewareHandler<AppEnv> {
  return async function historyContext(c, next) {
    const metadata = {
      request_id: c.get("requestId"),
      method: c.req.method,
      route: c.get("route") ?? undefined,
    };
    await runInRootContext(metadata, next, { sql });
  };
}

/**
 * Names the request's server span (made by `Deno.serve` when tracing is on)
 * after its route template, `GET /api/v1/items/{id}`, and adds `http.route`
 * and the request id to it. Installed only when tracing is on.
 *
 * @example
 * ```ts
 * if (config.tracing) app.use(edge(options), traceRoute());
 * ```
 */
export function traceRoute(): MiddlewareHandler<AppEnv> {
  return async function traceRoute(c, next) {
    const span = trace.getActiveSpan();
    if (span?.isRecording()) {
      span.setAttribute("tusk.request_id", c.get("requestId"));
      const route = c.get("route");
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
