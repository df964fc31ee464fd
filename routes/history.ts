/**
 * Audit history over HTTP: an item's or a user's changes (for those who may
 * see the row), and for superusers the whole log, filtered, and revert.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { listEvents } from "../db/history.ts";
import { getItem } from "../db/items.ts";
import { getUserById } from "../db/users.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { readSql } from "../http/reads.ts";
import { HttpError } from "../lib/http_error.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import { RequestValidationError } from "../http/validation.ts";
import { revertEvent, unknownHistoryTable } from "../services/history.ts";
import { canSee } from "../services/row_access.ts";
import {
  BEARER,
  HistoryEventPublic,
  HistoryEventsPublic,
  HttpErrorBody,
  IdParam,
  Instant,
  json,
  Page,
  toHistoryEventPublic,
  toHistoryEventsPublic,
} from "./schemas.ts";

const HistoryQuery = Page.extend({
  table: z.string().max(255).optional(),
  row_id: z.string().max(255).optional(),
  user_id: z.uuid().optional(),
  request_id: z.string().max(128).optional(),
  job_id: z.uuid().optional(),
  label: z.string().max(255).optional(),
  op: z.enum(["insert", "update", "delete"]).optional(),
  since: Instant.optional(),
  until: Instant.optional(),
});

/** `/history/*`. */
export function historyRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const admin = [currentUser(deps), superuserOnly()];

  router.openapi(
    createRoute({
      method: "get",
      path: "/history",
      tags: ["history"],
      operationId: "history-read_history",
      summary: "Recorded changes, newest first, with filters (superuser)",
      middleware: admin,
      security: BEARER,
      request: { query: HistoryQuery },
      responses: { 200: json(HistoryEventsPublic, "A page of events") },
    }),
    async (c) => {
      const { skip, limit, ...filters } = c.req.valid("query");
      const tables = filters.table === undefined
        ? undefined
        : await unknownHistoryTable(sql, filters.table);
      if (tables !== undefined) {
        throw new RequestValidationError([{
          type: "enum",
          loc: ["query", "table"],
          msg: `Input should be a tracked table: ${tables.join(", ")}`,
          input: filters.table,
        }]);
      }
      // The history listing may lag a little: a replica's when there is one.
      const page = await listEvents(readSql(deps, c), filters, { skip, limit, order: "desc" });
      return c.json(toHistoryEventsPublic(page), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/history/{event_id}/revert",
      tags: ["history"],
      operationId: "history-revert_event",
      summary: "Restore a row to its state before an event (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: {
        params: z.object({ event_id: z.string().regex(/^[1-9][0-9]{0,17}$/) }),
        query: z.object({ force: z.stringbool().default(false) }),
      },
      responses: {
        200: json(HistoryEventPublic, "The revert event"),
        404: json(HttpErrorBody, "No such event"),
        409: json(HttpErrorBody, "The row changed since, or the revert breaks a constraint"),
      },
    }),
    async (c) => {
      const { event_id } = c.req.valid("param");
      const event = await revertEvent(sql, event_id, { force: c.req.valid("query").force });
      return c.json(toHistoryEventPublic(event), 200);
    },
  );

  /**
   * One row's events, oldest first. A row that is gone is shown to superusers
   * while it has events (history outlives the row), and is a 404 otherwise.
   */
  async function rowHistory(
    table: string,
    rowId: string,
    exists: boolean,
    page: { skip: number; limit: number },
    notFound: string,
  ) {
    const events = await listEvents(sql, { table, row_id: rowId }, { ...page, order: "asc" });
    if (!exists && events.count === 0) throw new HttpError(404, notFound);
    return toHistoryEventsPublic(events);
  }

  router.openapi(
    createRoute({
      method: "get",
      path: "/items/{id}/history",
      tags: ["history"],
      operationId: "history-read_item_history",
      summary: "An item's recorded changes, oldest first (owner or superuser)",
      middleware: [currentUser(deps)],
      security: BEARER,
      request: { params: IdParam("id"), query: Page },
      responses: {
        200: json(HistoryEventsPublic, "The item's events"),
        403: json(HttpErrorBody, "Not yours"),
        404: json(HttpErrorBody, "No such item"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").id as string;
      const me = c.get("user");
      const item = await getItem(sql, id);
      if (item === undefined && !me.is_superuser) throw new HttpError(404, "Item not found");
      if (item !== undefined && !canSee(me, { table: "items", row_id: id, data: item })) {
        throw new HttpError(403, "Not enough permissions");
      }
      const page = c.req.valid("query");
      return c.json(await rowHistory("items", id, item !== undefined, page, "Item not found"), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/users/{user_id}/history",
      tags: ["history"],
      operationId: "history-read_user_history",
      summary: "A user's recorded changes, oldest first (yourself, or any as superuser)",
      middleware: [currentUser(deps)],
      security: BEARER,
      request: { params: IdParam("user_id"), query: Page },
      responses: {
        200: json(HistoryEventsPublic, "The user's events"),
        403: json(HttpErrorBody, "Not yours"),
        404: json(HttpErrorBody, "No such user"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").user_id as string;
      const me = c.get("user");
      if (!canSee(me, { table: "users", row_id: id, data: {} })) {
        throw new HttpError(403, "The user doesn't have enough privileges");
      }
      const exists = id === me.id || (await getUserById(sql, id)) !== undefined;
      const page = c.req.valid("query");
      return c.json(await rowHistory("users", id, exists, page, "User not found"), 200);
    },
  );

  return router;
}
