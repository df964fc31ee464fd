/**
 * Liveness, readiness and the template's health check.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ping } from "../db/client.ts";
import { migrationStatus } from "../db/migrate/mod.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { outageLogger } from "../db/outage.ts";

const Status = z.object({ status: z.string() }).openapi("Status");
const Unavailable = z.object({ detail: z.string() }).openapi("Unavailable");

/** `/healthz`, `/readyz` (mounted at the root) and `/utils/health-check` (under /api/v1). */
export function healthRoutes(deps: AppDeps) {
  const root = newRouter();
  const api = newRouter();
  const outage = outageLogger(deps.log, "readiness: database unavailable; answering 503");

  root.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      tags: ["health"],
      operationId: "health-liveness",
      summary: "Liveness: 200 while the process serves",
      responses: {
        200: { description: "Alive", content: { "application/json": { schema: Status } } },
      },
    }),
    (c) => c.json({ status: "ok" }, 200),
  );

  root.openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      tags: ["health"],
      operationId: "health-readiness",
      summary: "Readiness: Postgres answers and no migration is pending",
      responses: {
        200: { description: "Ready", content: { "application/json": { schema: Status } } },
        503: { description: "Not ready", content: { "application/json": { schema: Unavailable } } },
      },
    }),
    async (c) => {
      const reason = await notReadyReason(deps, outage);
      if (reason !== undefined) return c.json({ detail: reason }, 503);
      return c.json({ status: "ready" }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: "/utils/health-check",
      tags: ["utils"],
      operationId: "utils-health_check",
      summary: "Health check",
      responses: {
        200: {
          description: "Always true",
          content: { "application/json": { schema: z.boolean() } },
        },
      },
    }),
    (c) => c.json(true, 200),
  );

  return { root, api };
}

async function notReadyReason(
  deps: AppDeps,
  outage: ReturnType<typeof outageLogger>,
): Promise<string | undefined> {
  try {
    await ping(deps.sql);
  } catch (error) {
    outage(error) || deps.log.warn("readiness: database unreachable", { error });
    return "Database is unreachable";
  }
  try {
    const { pending } = await migrationStatus(deps.sql, deps.migrations);
    if (pending.length > 0) {
      return `Migrations pending: ${
        pending.map((m) => m.file).join(", ")
      } (run: deno task migrate)`;
    }
  } catch (error) {
    if (outage(error)) return "Database is unreachable";
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}
