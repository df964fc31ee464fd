/**
 * Items: each user sees and changes only their own; superusers see all.
 *
 * @module
 */
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createItem, deleteItem, getItem, type Item, listItems, updateItem } from "../db/items.ts";
import { currentUser } from "../http/current_user.ts";
import { canSee } from "../services/row_access.ts";
import { HttpError } from "../lib/http_error.ts";
import { type AppDeps, type AppEnv, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import { readSql } from "../http/reads.ts";
import type { Sql } from "../db/client.ts";
import {
  BEARER,
  HttpErrorBody,
  IdParam,
  ItemCreate,
  ItemPublic,
  ItemsPublic,
  ItemUpdate,
  json,
  jsonRequest,
  Message,
  Page,
  toItemPublic,
} from "./schemas.ts";

/** `/items/*`. */
export function itemRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const auth = [currentUser(deps)];
  const denied = {
    403: json(HttpErrorBody, "Not yours"),
    404: json(HttpErrorBody, "No such item"),
  };

  /** The item, if the current user may touch it: 404 when absent, 403 when someone else's. */
  async function ownItem(c: Context<AppEnv>, id: string, pool: Sql = sql): Promise<Item> {
    const item = await getItem(pool, id);
    if (item === undefined) throw new HttpError(404, "Item not found");
    if (!canSee(c.get("user"), { table: "items", row_id: item.id, data: item })) {
      throw new HttpError(403, "Not enough permissions");
    }
    return item;
  }

  router.openapi(
    createRoute({
      method: "get",
      path: "/items",
      tags: ["items"],
      operationId: "items-read_items",
      summary: "Your items, newest first (all items for a superuser)",
      middleware: auth,
      security: BEARER,
      request: { query: Page },
      responses: { 200: json(ItemsPublic, "A page of items") },
    }),
    async (c) => {
      const user = c.get("user");
      // Marked safe for a replica: a list may lag by REPLICA_MAX_LAG_SECONDS, never its writer's.
      const page = await listItems(readSql(deps, c), {
        ...c.req.valid("query"),
        ownerId: user.is_superuser ? undefined : user.id,
      });
      return c.json({ data: page.data.map(toItemPublic), count: page.count }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/items/{id}",
      tags: ["items"],
      operationId: "items-read_item",
      summary: "One item",
      middleware: auth,
      security: BEARER,
      request: { params: IdParam("id") },
      responses: { 200: json(ItemPublic, "The item"), ...denied },
    }),
    async (c) =>
      c.json(
        toItemPublic(await ownItem(c, c.req.valid("param").id as string, readSql(deps, c))),
        200,
      ),
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/items",
      tags: ["items"],
      operationId: "items-create_item",
      summary: "Create an item you own",
      middleware: [...auth, idempotent(deps)],
      security: BEARER,
      request: jsonRequest(ItemCreate),
      responses: { 200: json(ItemPublic, "The new item") },
    }),
    async (c) => {
      const item = await createItem(sql, c.get("user").id, c.req.valid("json"));
      return c.json(toItemPublic(item), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "put",
      path: "/items/{id}",
      tags: ["items"],
      operationId: "items-update_item",
      summary: "Update an item",
      middleware: [...auth, idempotent(deps)],
      security: BEARER,
      request: { params: IdParam("id"), ...jsonRequest(ItemUpdate) },
      responses: { 200: json(ItemPublic, "Updated"), ...denied },
    }),
    async (c) => {
      const item = await ownItem(c, c.req.valid("param").id as string);
      const updated = await updateItem(sql, item.id, c.req.valid("json"));
      if (updated === undefined) throw new HttpError(404, "Item not found");
      return c.json(toItemPublic(updated), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/items/{id}",
      tags: ["items"],
      operationId: "items-delete_item",
      summary: "Delete an item",
      middleware: [...auth, idempotent(deps)],
      security: BEARER,
      request: { params: IdParam("id") },
      responses: { 200: json(Message, "Deleted"), ...denied },
    }),
    async (c) => {
      const item = await ownItem(c, c.req.valid("param").id as string);
      await deleteItem(sql, item.id);
      return c.json({ message: "Item deleted successfully" }, 200);
    },
  );

  return router;
}
