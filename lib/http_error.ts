/**
 * `HttpError`: an error meant for the client, with its status and `detail`.
 * It lives here, below every layer, so that domain rules (services) can
 * refuse with the API's answers without depending on the HTTP layer.
 *
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * An error meant for the client: its status and `detail` are sent as they are.
 *
 * @example
 * ```ts
 * throw new HttpError(404, "Item not found");
 * ```
 */
export class HttpError extends Error {
  readonly status: ContentfulStatusCode;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}
