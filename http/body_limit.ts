/**
 * The request body limit, answered from `Content-Length` without touching the body.
 *
 * Hono's `bodyLimit` reads `request.body` first, even when `Content-Length` decides: that makes
 * Deno build the body's stream, and the handler's `json()` then reads it through a stream reader
 * instead of in one piece. On a tracked `POST /items/` that stream was most of what outlived V8's
 * young-generation collections (docs/performance.md). A body without a length (chunked, or
 * HTTP/2 without the header) still goes through Hono's, which counts it as it reads.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit as countingBodyLimit } from "hono/body-limit";

/**
 * Refuses bodies over `maxBytes` with `onTooLarge`: by `Content-Length` when the request has one
 * (and no `Transfer-Encoding`), otherwise by counting as the body is read.
 *
 * @example
 * ```ts
 * app.use(bodyLimit(1_048_576, () => { throw new HttpError(413, "Request body is too large"); }));
 * ```
 */
export function bodyLimit(
  maxBytes: number,
  onTooLarge: (c: Context) => Response | Promise<Response>,
): MiddlewareHandler {
  const counting = countingBodyLimit({ maxSize: maxBytes, onError: onTooLarge });
  return async function bodyLimit(c, next) {
    const headers = c.req.raw.headers;
    const length = headers.get("content-length");
    if (length === null || headers.has("transfer-encoding")) return await counting(c, next);
    if (parseInt(length, 10) > maxBytes) return await onTooLarge(c);
    await next();
  };
}
