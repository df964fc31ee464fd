/**
 * The one mapping from errors to responses, in the shapes of docs/api.md:
 * `{"detail": "..."}` for HTTP errors, a FastAPI-style 422 list for bad
 * input, and a generic 500 that carries the request id and hides the cause.
 *
 * @module
 */
import { trace } from "@opentelemetry/api";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HttpError } from "../lib/http_error.ts";
import type { AppEnv } from "./router.ts";
import type { Logger } from "../lib/logging.ts";
import { handlerRoute } from "./edge.ts";
import { reportError } from "../lib/error_reports.ts";
import { outageLogger } from "../db/outage.ts";
import { recordFailure } from "../lib/telemetry.ts";
import { RequestValidationError } from "./validation.ts";

/** Postgres error codes a client can cause, and how we answer them. */
const PG_ERRORS: Record<string, [ContentfulStatusCode, string]> = {
  "23505": [409, "A record with these values already exists"],
  "23503": [409, "A referenced record does not exist or is still referenced"],
  "22001": [422, "A value is too long"],
  "22003": [422, "A number is out of range"],
  // Postgres text cannot hold NUL characters; clients can still send them.
  "22021": [422, "Text may not contain NUL characters"],
  "22P05": [422, "Text may not contain NUL characters"],
  "23514": [422, "A value is out of range"],
  "57014": [503, "The database took too long to answer; try again"],
};

/** What a client gets while the database is unreachable. */
export const DATABASE_UNAVAILABLE = "Database unavailable, try again shortly";
// Long enough for a restart or a failover to finish; short enough that clients retry soon.
const RETRY_AFTER_SECONDS = 2;

function requestIdOf(c: Context): string | undefined {
  return (c as Context<AppEnv>).get("requestId");
}

/** What an error is answered with: status, JSON body and extra headers. */
export interface ErrorAnswer {
  status: ContentfulStatusCode;
  body: { detail: unknown; request_id?: string };
  headers?: Record<string, string>;
}

/**
 * Builds `app.onError`: every thrown error becomes one of the documented
 * shapes; anything unexpected is logged with the request id and answered 500.
 */
export function errorHandler(log: Logger) {
  const answer = errorAnswers(log);
  return function onError(error: Error, c: Context<AppEnv>): Response {
    const { status, body, headers } = answer(error, c);
    return c.json(body, status, headers);
  };
}

/**
 * The classification behind {@link errorHandler}, for callers that render
 * errors their own way (the console answers HTML): the same statuses and
 * details, the same logging.
 */
export function errorAnswers(log: Logger) {
  const outage = outageLogger(log, "database unavailable; answering 503 until it is back");

  // Any app's context (the console's has more variables): only the request id is read.
  return function answer(error: Error, c: Context): ErrorAnswer {
    if (error instanceof HttpError) {
      return { body: { detail: error.message }, status: error.status, headers: error.headers };
    }
    if (error instanceof RequestValidationError) {
      return { body: { detail: error.detail }, status: 422 };
    }
    if (error instanceof HTTPException) {
      if (error.status === 400 && /malformed json/i.test(error.message)) {
        return {
          body: {
            detail: [{
              type: "json_invalid",
              loc: ["body", 0],
              msg: "JSON decode error",
              input: {},
            }],
          },
          status: 422,
        };
      }
      const status = error.status as ContentfulStatusCode;
      const detail = error.message || (error.res ? error.res.statusText : "") || "Error";
      return { body: { detail }, status };
    }
    if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.ConnectionReset) {
      // The client went away (or the server is draining) while its body was still arriving.
      log.warn("request body could not be read", {
        request_id: requestIdOf(c),
        error: error.message,
      });
      return { body: { detail: "Request body could not be read" }, status: 400 };
    }
    // Server-side failures mark the request's span (when tracing is on); client errors do not.
    const span = trace.getActiveSpan();
    if (outage(error)) {
      if (span) recordFailure(span, error);
      return {
        body: { detail: DATABASE_UNAVAILABLE },
        status: 503,
        headers: { "Retry-After": String(RETRY_AFTER_SECONDS) },
      };
    }
    const code = (error as { code?: unknown }).code;
    const known = typeof code === "string" ? PG_ERRORS[code] : undefined;
    if (known) return { body: { detail: known[1] }, status: known[0] };
    if (span) recordFailure(span, error);
    const requestId = requestIdOf(c);
    reportError(error, {
      level: "error",
      tags: { request_id: requestId, method: c.req.method, route: handlerRoute(c) ?? undefined },
      userId: (c as Context<AppEnv>).get("user")?.id,
    });
    log.error("unhandled error", {
      request_id: requestId,
      method: c.req.method,
      path: c.req.path,
      error,
    });
    return { body: { detail: "Internal Server Error", request_id: requestId }, status: 500 };
  };
}

/** `app.notFound`: JSON like every other error. */
export function notFound(c: Context): Response {
  return c.json({ detail: "Not Found" }, 404);
}

/** The 405 answer, with the `Allow` header the method-not-allowed middleware computed. */
export function methodNotAllowedResponse(c: Context, methods: string[]): Response {
  return c.json({ detail: "Method Not Allowed" }, 405, { Allow: methods.join(", ") });
}
