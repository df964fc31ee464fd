/**
 * Interactive API docs at `/docs`: Swagger UI served from the
 * `swagger-ui-dist` package, so the page works with no network access.
 *
 * @module
 */
import { Hono } from "hono";
import { join } from "node:path";
// The package's own locator; a static import also puts the assets in a `deno compile` binary.
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import type { AppEnv } from "../http/router.ts";
import { IDEMPOTENCY_HEADER, IDEMPOTENT_METHODS, REPLAYED_HEADER } from "../http/idempotency.ts";

/** Path of the OpenAPI document the page loads. */
export const OPENAPI_PATH = "/api/v1/openapi.json";

const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "oauth2-redirect.html": "text/html; charset=utf-8",
  "oauth2-redirect.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

// No inline script: the page stays under a CSP that allows only our own files.
const INIT_JS = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_PATH)},
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html",
});
`;

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
  "script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

function page(title: string): string {
  const safe = title.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${safe} - API docs</title>
  <link rel="icon" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;
}

/** The docs page and its assets (read from disk once, then served from memory). */
export function docsRoutes(projectName: string): Hono<AppEnv> {
  const router = new Hono<AppEnv>({ strict: false });
  const cache = new Map<string, Uint8Array<ArrayBuffer>>();
  const html = page(projectName);

  router.get("/docs", (c) => c.html(html, 200, { "Content-Security-Policy": CSP }));
  router.get(
    "/docs/init.js",
    (c) => c.body(INIT_JS, 200, { "Content-Type": ASSETS["oauth2-redirect.js"]! }),
  );
  router.get("/docs/:asset", async (c) => {
    const name = c.req.param("asset");
    const type = ASSETS[name];
    if (type === undefined) return c.json({ detail: "Not Found" }, 404);
    let body = cache.get(name);
    if (body === undefined) {
      body = await Deno.readFile(join(getAbsoluteFSPath(), name));
      cache.set(name, body);
    }
    return c.body(body, 200, {
      "Content-Type": type,
      "Cache-Control": "public, max-age=86400",
      "Content-Security-Policy": CSP,
    });
  });
  return router;
}

interface Operation {
  security?: unknown[];
  parameters?: unknown[];
  responses?: Record<string, unknown>;
}

/**
 * Adds the optional `Idempotency-Key` header, and its 409 and 422 answers,
 * to every authenticated POST, PUT, PATCH and DELETE operation of `document`.
 */
export function withIdempotencyKeys<D extends { paths?: Record<string, unknown> }>(document: D): D {
  for (const item of Object.values(document.paths ?? {})) {
    for (const [method, value] of Object.entries(item as Record<string, unknown>)) {
      const operation = value as Operation;
      if (!IDEMPOTENT_METHODS.has(method.toUpperCase()) || !operation.security?.length) continue;
      operation.parameters = [...(operation.parameters ?? []), {
        name: IDEMPOTENCY_HEADER,
        in: "header",
        required: false,
        description: "Makes a retry safe: the first response to this key (per user, kept " +
          "IDEMPOTENCY_TTL_HOURS) is replayed to repeats of the same request, marked " +
          `\`${REPLAYED_HEADER}: true\`.`,
        schema: { type: "string", minLength: 1, maxLength: 255 },
      }];
      const responses = operation.responses ??= {};
      responses["409"] = errorResponse("A request with this Idempotency-Key is still in progress");
      responses["422"] ??= errorResponse(
        "This Idempotency-Key was already used with a different request",
      );
    }
  }
  return document;
}

function errorResponse(description: string) {
  return {
    description,
    content: { "application/json": { schema: { $ref: "#/components/schemas/HTTPError" } } },
  };
}
