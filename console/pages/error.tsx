/**
 * The console's error page: the API's status and message, as HTML.
 *
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ConsoleContext } from "../context.ts";
import { href, page } from "../ui.tsx";

const TITLES: Partial<Record<number, string>> = {
  400: "Bad request",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  422: "Not valid",
  429: "Too many requests",
  503: "Unavailable",
};

/** A page saying what went wrong; 500s show the request id to quote. */
export function errorPage(
  c: ConsoleContext,
  status: ContentfulStatusCode,
  detail: string,
  requestId?: string,
) {
  return page(
    c,
    TITLES[status] ?? "Something went wrong",
    <div>
      <p class="flash error" role="alert">{detail}</p>
      {requestId && (
        <p>
          Request id: <code>{requestId}</code>
        </p>
      )}
      <p>
        <a href={href(c, "")}>Back to the overview</a>
      </p>
    </div>,
    { status, flash: undefined },
  );
}
