/**
 * Analytics (superuser): reports answered by DuckDB from the last export's
 * Parquet files, the export's status, and a way to run one now.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { AnalyticsUnavailableError } from "../analytics/duckdb.ts";
import { NoExportError, ReportFailedError } from "../analytics/reports.ts";
import { exportRunning } from "../db/analytics.ts";
import { requestExport } from "../jobs/export_analytics.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { HttpError } from "../lib/http_error.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import { BEARER, HttpErrorBody, json } from "./schemas.ts";

const ItemsByUser = z.array(z.object({ email: z.string(), item_count: z.number().int() }))
  .openapi("ItemsByUser");
const ActiveUsers = z.array(z.object({
  user_id: z.uuid(),
  email: z.string(),
  full_name: z.string().nullable(),
  item_count: z.number().int(),
})).openapi("ActiveUsers");
const ItemsPerDay = z.array(z.object({
  day: z.string().openapi({ format: "date" }),
  item_count: z.number().int(),
})).openapi("ItemsPerDay");
const TableStatus = z.object({
  rows: z.number().int().nullable(),
  bytes: z.number().int().nullable(),
});
const AnalyticsStatus = z.object({
  exported_at: z.string().nullable().openapi({
    format: "date-time",
    description: "When the snapshot in the files was taken; null before the first export",
  }),
  finished_at: z.string().nullable().openapi({ format: "date-time" }),
  duration_seconds: z.number().nullable(),
  running: z.boolean().openapi({ description: "An export (a job or the CLI) is running now" }),
  tables: z.object({ users: TableStatus, items: TableStatus }),
}).openapi("AnalyticsStatus");
const ExportQueued = z.object({ job_id: z.uuid() }).openapi("AnalyticsExportQueued");

// A year of days by default would be a lot of zeros; ten years is the most anyone charts.
const MAX_DAYS = 3660;
const DaysQuery = z.object({
  days: z.coerce.number().int().min(1).max(MAX_DAYS).default(30),
});

const NOT_READY = json(HttpErrorBody, "No export yet (the detail says how to run one)");

/** A report's failure as a client sees it: what to do, never DuckDB's or the disk's words. */
async function report<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (
      error instanceof NoExportError || error instanceof ReportFailedError ||
      error instanceof AnalyticsUnavailableError
    ) {
      throw new HttpError(503, error.message);
    }
    throw error;
  }
}

/** `/analytics/*`. */
export function analyticsRoutes(deps: AppDeps) {
  const { sql, analytics } = deps;
  const router = newRouter();
  const admin = [currentUser(deps), superuserOnly()];

  router.openapi(
    createRoute({
      method: "get",
      path: "/analytics/items_by_user",
      tags: ["analytics"],
      operationId: "analytics-items_by_user",
      summary: "Owners with at least one item and their item counts, most first (superuser)",
      middleware: admin,
      security: BEARER,
      responses: { 200: json(ItemsByUser, "Item counts by owner"), 503: NOT_READY },
    }),
    async (c) => c.json(await report(() => analytics.itemsByUser()), 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/analytics/active_users",
      tags: ["analytics"],
      operationId: "analytics-active_users",
      summary: "The ten users with the most items (superuser)",
      middleware: admin,
      security: BEARER,
      responses: { 200: json(ActiveUsers, "Top users by item count"), 503: NOT_READY },
    }),
    async (c) => c.json(await report(() => analytics.activeUsers()), 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/analytics/items_per_day",
      tags: ["analytics"],
      operationId: "analytics-items_per_day",
      summary: "Items created on each of the last `days` UTC days of the export, zero-filled " +
        "(superuser)",
      middleware: admin,
      security: BEARER,
      request: { query: DaysQuery },
      responses: { 200: json(ItemsPerDay, "One entry per day, oldest first"), 503: NOT_READY },
    }),
    async (c) => {
      const { days } = c.req.valid("query");
      return c.json(await report(() => analytics.itemsPerDay(days)), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/analytics/status",
      tags: ["analytics"],
      operationId: "analytics-status",
      summary: "When the analytics data was exported, its row counts, and whether an export " +
        "is running (superuser)",
      middleware: admin,
      security: BEARER,
      responses: { 200: json(AnalyticsStatus, "The last export's manifest") },
    }),
    async (c) => {
      const [generation, running] = await Promise.all([
        report(() => analytics.current()),
        exportRunning(sql),
      ]);
      const m = generation?.manifest;
      const table = (t: "users" | "items") => ({
        rows: m?.tables[t].rows ?? null,
        bytes: m?.tables[t].bytes ?? null,
      });
      return c.json({
        exported_at: m?.exported_at ?? null,
        finished_at: m?.finished_at ?? null,
        duration_seconds: m?.duration_seconds ?? null,
        running,
        tables: { users: table("users"), items: table("items") },
      }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/analytics/export",
      tags: ["analytics"],
      operationId: "analytics-export",
      summary: "Queue an export now; one already waiting or running is reused (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      responses: { 202: json(ExportQueued, "The job that will export (poll /jobs/{id}/status)") },
    }),
    async (c) => c.json({ job_id: await requestExport(sql) }, 202),
  );

  return router;
}
