/**
 * A built single-page app (the FastAPI template's frontend, say) served by
 * the API itself from `FRONTEND_DIR`, so the two share one origin and need no
 * CORS: each file by its path, and `index.html` for any other GET outside the
 * API's own paths, where the client-side router takes over.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { getMimeType } from "hono/utils/mime";
import { join, normalize, sep } from "node:path";
import type { AppEnv } from "./router.ts";

/** Paths that stay the API's, whatever the frontend has: its 404s stay JSON. */
const RESERVED = ["/api", "/docs", "/healthz", "/readyz"];
// Vite (and most bundlers) put a content hash in the name: `assets/index-BkX7a2Qz.js`.
const HASHED = /[.-][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
const FOREVER = "public, max-age=31536000, immutable";
// Always asked again (an ETag-less revalidation is a full download, but index.html is small).
const REVALIDATE = "no-cache";

function under(path: string, prefixes: string[]): boolean {
  return prefixes.some((p) => path === p || path.startsWith(`${p}/`));
}

/** `dir`'s file for URL path `path`, or undefined when there is none or it would leave `dir`. */
async function fileFor(root: string, path: string): Promise<string | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined; // a malformed escape names no file
  }
  if (decoded.includes("\0")) return undefined;
  const candidate = normalize(join(root, decoded));
  if (candidate !== root && !candidate.startsWith(root + sep)) return undefined;
  try {
    // Through symlinks too: the real file must be inside the real folder.
    const real = await Deno.realPath(candidate);
    if (real !== root && !real.startsWith(root + sep)) return undefined;
    return (await Deno.stat(real)).isFile ? real : undefined;
  } catch {
    return undefined;
  }
}

async function answer(path: string, method: string, cache: string): Promise<Response> {
  const file = await Deno.open(path, { read: true });
  const { size } = await file.stat();
  const headers = {
    "Content-Type": getMimeType(path) ?? "application/octet-stream",
    "Content-Length": String(size),
    "Cache-Control": cache,
  };
  if (method === "HEAD") {
    file.close();
    return new Response(null, { headers });
  }
  return new Response(file.readable, { headers });
}

/**
 * Serves the app built into `dir` (which holds `index.html`) for GET and
 * HEAD requests no route answered, outside the API's paths and
 * `options.reserved` (the console's). Hashed files are cached for a year,
 * everything else is revalidated.
 *
 * @example
 * ```ts
 * const root = await Deno.realPath("frontend");
 * app.use(frontend(root, { reserved: ["/console"] })); // after every route
 * ```
 */
export function frontend(
  dir: string,
  options: { reserved?: string[] } = {},
): MiddlewareHandler<AppEnv> {
  const root = normalize(dir);
  const index = join(root, "index.html");
  const reserved = [...RESERVED, ...(options.reserved ?? [])];
  return async function frontend(c, next) {
    const method = c.req.method;
    const path = c.req.path;
    if ((method !== "GET" && method !== "HEAD") || under(path, reserved)) return await next();
    const file = path === "/" ? undefined : await fileFor(root, path);
    if (file !== undefined) {
      return await answer(file, method, HASHED.test(file) ? FOREVER : REVALIDATE);
    }
    return await answer(index, method, REVALIDATE);
  };
}

/** Checks `dir` for an `index.html`; returns its real path, or why it will not do. */
export async function frontendRoot(dir: string): Promise<string | Error> {
  try {
    const root = await Deno.realPath(dir);
    if (!(await Deno.stat(join(root, "index.html"))).isFile) throw new Error();
    return root;
  } catch {
    return new Error(
      `FRONTEND_DIR=${dir} has no index.html: build the frontend into it first ` +
        "(the FastAPI template's: cd frontend && npm run build, which writes backend/app/frontend)",
    );
  }
}
