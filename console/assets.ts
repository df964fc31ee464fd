/**
 * The console's static files: its stylesheet and htmx (from our own npm
 * dependency, never a CDN), read once, served from memory under a name that
 * carries their hash, so browsers may cache them for a year.
 *
 * @module
 */
import { Hono } from "hono";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  /** What pages link to under the console's path: `/assets/<name>?v=<hash>`. */
  url: string;
}

const require = createRequire(import.meta.url);

function load(name: string, path: string, type: string): [string, Asset] {
  const body = new Uint8Array(readFileSync(path));
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return [name, { body, type, url: `/assets/${name}?v=${hash}` }];
}

let assets: Map<string, Asset> | undefined;

function all(): Map<string, Asset> {
  assets ??= new Map([
    load(
      "console.css",
      fileURLToPath(new URL("./assets/console.css", import.meta.url)),
      "text/css; charset=utf-8",
    ),
    load(
      "live_events.js",
      fileURLToPath(new URL("./assets/live_events.js", import.meta.url)),
      "text/javascript; charset=utf-8",
    ),
    load(
      "changes.js",
      fileURLToPath(new URL("./assets/changes.js", import.meta.url)),
      "text/javascript; charset=utf-8",
    ),
    load(
      "htmx.min.js",
      require.resolve("htmx.org/dist/htmx.min.js"),
      "text/javascript; charset=utf-8",
    ),
  ]);
  return assets;
}

/** The URL of asset `name` (with its hash) for a page of the console mounted at `base`. */
export function assetUrl(
  base: string,
  name: "console.css" | "htmx.min.js" | "live_events.js" | "changes.js",
): string {
  return `${base}${all().get(name)!.url}`;
}

/** `GET /assets/:name` (under the console's path). Public: the login page needs them. */
export function assetRoutes(): Hono {
  const router = new Hono();
  router.get("/assets/:name", (c) => {
    const asset = all().get(c.req.param("name"));
    if (asset === undefined) return c.text("Not Found", 404);
    return c.body(asset.body, 200, {
      "Content-Type": asset.type,
      // The URL changes with the content, so a cached copy is never stale.
      "Cache-Control": "public, max-age=31536000, immutable",
    });
  });
  return router;
}
