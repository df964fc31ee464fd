/**
 * The edge of every request, in one middleware: the request id, CORS
 * (preflights included), the security headers and the access log.
 *
 * One middleware rather than Hono's `cors()` and `secureHeaders()` because of
 * what they cost on the hot path: `cors()` touches `c.res` before the handler
 * runs, which makes Hono build a placeholder `Response` and then copy its
 * headers into the real one, header by header, twice. Here the headers are
 * worked out once at start-up and set once, on the answer itself; `/healthz`
 * serves about half again as fast for it (BENCHMARKS.md, bench:http).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { METHOD_NAME_ALL } from "hono/router";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "./router.ts";
import type { Logger } from "../lib/logging.ts";

/** Header carrying the request id, in and out. */
export const REQUEST_ID_HEADER = "X-Request-Id";

// Long enough for a UUID or a trace id, restricted so ids are safe to log and echo.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

// What Hono's secureHeaders() sets by default, but Cross-Origin-Resource-Policy: the
// API is called cross-origin by design, and the documented frontends load its answers.
const SECURITY_HEADERS: readonly [string, string][] = [
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Origin-Agent-Cluster", "?1"],
  ["Referrer-Policy", "no-referrer"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-DNS-Prefetch-Control", "off"],
  ["X-Download-Options", "noopen"],
  ["X-Frame-Options", "SAMEORIGIN"],
  ["X-Permitted-Cross-Domain-Policies", "none"],
  ["X-XSS-Protection", "0"],
];

/** Methods a preflight allows: every one the API answers. */
const ALLOW_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH,QUERY";

/** Options for {@link edge}. */
export interface EdgeOptions {
  /** Origins allowed to call with credentials (`Access-Control-Allow-Origin` echoes them). */
  corsOrigins: readonly string[];
  /** Response headers a browser script may read. */
  exposeHeaders: readonly string[];
  /** The `Strict-Transport-Security` value, or false (local development over plain HTTP). */
  strictTransportSecurity: string | false;
  /** Where the access log goes. */
  log: Logger;
}

/**
 * Honours a sane incoming `X-Request-Id` (from a proxy or client), otherwise
 * generates one; stores it as `c.get("requestId")` and echoes it. Answers CORS
 * preflights; adds the CORS and security headers to every other answer;
 * writes one JSON line per request: method, route pattern, path, status,
 * duration in ms and request id. Stores the route pattern as `c.get("route")`.
 *
 * @example
 * ```ts
 * app.use(edge({ corsOrigins: ["http://localhost:5173"], exposeHeaders: [], strictTransportSecurity: false, log }));
 * ```
 */
export function edge(options: EdgeOptions): MiddlewareHandler<AppEnv> {
  const { log } = options;
  const origins = new Set(options.corsOrigins);
  const cors = corsHeaders(options);
  const always = answerHeaders(options);

  return async function edge(c, next) {
    const started = performance.now();
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", id);
    // Routing is done before any middleware runs: the later middleware reads it from here.
    const route = handlerRoute(c);
    c.set("route", route);
    const origin = c.req.header("origin");
    const allowedOrigin = origin !== undefined && origins.has(origin) ? origin : undefined;
    let answer: Response | undefined;
    try {
      if (c.req.method === "OPTIONS") {
        return answer = preflight(c.req.raw, cors, allowedOrigin, id);
      }
      await next();
      const headers = c.res.headers;
      for (const [name, value] of always) headers.set(name, value);
      if (allowedOrigin !== undefined) headers.set("Access-Control-Allow-Origin", allowedOrigin);
      headers.append("Vary", "Origin");
      headers.set(REQUEST_ID_HEADER, id);
    } finally {
      log.info("request", {
        method: c.req.method,
        route,
        path: c.req.path,
        status: (answer ?? c.res).status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        request_id: id,
      });
    }
  };
}

function corsHeaders(options: Pick<EdgeOptions, "exposeHeaders">): [string, string][] {
  const cors: [string, string][] = [["Access-Control-Allow-Credentials", "true"]];
  if (options.exposeHeaders.length > 0) {
    cors.push(["Access-Control-Expose-Headers", options.exposeHeaders.join(",")]);
  }
  return cors;
}

/**
 * The headers {@link edge} sets on every answer but a preflight, besides
 * `Vary`, `X-Request-Id` and an allowed origin (`bench:http`'s floor sends them too).
 *
 * @example
 * ```ts
 * answerHeaders({ exposeHeaders: ["X-Request-Id"], strictTransportSecurity: false });
 * ```
 */
export function answerHeaders(
  options: Pick<EdgeOptions, "exposeHeaders" | "strictTransportSecurity">,
): [string, string][] {
  const headers = [...corsHeaders(options), ...SECURITY_HEADERS];
  if (options.strictTransportSecurity !== false) {
    headers.push(["Strict-Transport-Security", options.strictTransportSecurity]);
  }
  return headers;
}

/** The answer to a CORS preflight (any OPTIONS request): 204 with what may be sent. */
function preflight(
  req: Request,
  cors: readonly [string, string][],
  allowedOrigin: string | undefined,
  id: string,
): Response {
  const headers = new Headers(cors);
  if (allowedOrigin !== undefined) headers.set("Access-Control-Allow-Origin", allowedOrigin);
  headers.set("Access-Control-Allow-Methods", ALLOW_METHODS);
  headers.set("Vary", "Origin");
  const requested = req.headers.get("Access-Control-Request-Headers");
  if (requested) {
    headers.set(
      "Access-Control-Allow-Headers",
      requested.split(",").map((h) => h.trim()).join(","),
    );
    headers.append("Vary", "Access-Control-Request-Headers");
  }
  headers.set(REQUEST_ID_HEADER, id);
  return new Response(null, { status: 204, headers });
}

/**
 * The pattern of the route that answers, or null (nothing but middleware
 * matched): the last matched handler registered for a method, since
 * middleware (`use()`) is registered for all of them. Not simply the last
 * match: the probes answer before the request-scoped middleware.
 */
export function handlerRoute(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string | null {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== METHOD_NAME_ALL) return route.path;
  }
  return null;
}
