/**
 * Feature flags: anyone may list them; superusers create, change and delete.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type FeatureFlag, listFlags } from "../db/feature_flags.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import { addFlag, changeFlag, Codename, removeFlag } from "../services/flags.ts";
import { BEARER, HttpErrorBody, json, jsonRequest, Message } from "./schemas.ts";

const FlagPublic = z.object({
  codename: z.string(),
  is_active: z.boolean(),
  label: z.string().nullable(),
})
  .openapi("FeatureFlagPublic");
const FlagDetail = FlagPublic.extend({
  description: z.string().nullable(),
  updated_at: z.string().openapi({ format: "date-time" }),
}).openapi("FeatureFlag");
const FlagsPublic = z.object({ data: z.array(FlagPublic), count: z.number().int() }).openapi(
  "FeatureFlagsPublic",
);
/** What creating a flag takes (the console's form is checked against it too). */
export const FlagCreate = z.object({
  codename: Codename,
  is_active: z.boolean().default(false),
  label: z.string().max(255).nullable().optional(),
  description: z.string().max(2000).nullable().optional(),
}).openapi("FeatureFlagCreate");
const FlagUpdate = z.object({
  is_active: z.boolean().optional(),
  label: z.string().max(255).nullable().optional(),
  description: z.string().max(2000).nullable().optional(),
}).openapi("FeatureFlagUpdate");

function detail(flag: FeatureFlag): z.infer<typeof FlagDetail> {
  return { ...flag, updated_at: flag.updated_at.toISOString() };
}

/** `/flags/*`. */
export function flagRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const admin = [currentUser(deps), superuserOnly()];
  const param = { params: z.object({ codename: z.string().max(100) }) };

  router.openapi(
    createRoute({
      method: "get",
      path: "/flags",
      tags: ["flags"],
      operationId: "flags-read_flags",
      summary: "Every feature flag and whether it is on",
      responses: { 200: json(FlagsPublic, "Flags") },
    }),
    async (c) => {
      const flags = await listFlags(sql);
      const data = flags.map(({ codename, is_active, label }) => ({ codename, is_active, label }));
      return c.json({ data, count: data.length }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/flags",
      tags: ["flags"],
      operationId: "flags-create_flag",
      summary: "Create a flag (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: jsonRequest(FlagCreate),
      responses: {
        200: json(FlagDetail, "The new flag"),
        409: json(HttpErrorBody, "Codename taken"),
      },
    }),
    async (c) => {
      return c.json(detail(await addFlag(sql, c.req.valid("json"))), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/flags/{codename}",
      tags: ["flags"],
      operationId: "flags-update_flag",
      summary: "Turn a flag on or off, or relabel it (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: { ...param, ...jsonRequest(FlagUpdate) },
      responses: { 200: json(FlagDetail, "The flag"), 404: json(HttpErrorBody, "No such flag") },
    }),
    async (c) => {
      const flag = await changeFlag(sql, c.req.valid("param").codename, c.req.valid("json"));
      return c.json(detail(flag), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/flags/{codename}",
      tags: ["flags"],
      operationId: "flags-delete_flag",
      summary: "Delete a flag; code reading it then sees it off (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: param,
      responses: { 200: json(Message, "Deleted"), 404: json(HttpErrorBody, "No such flag") },
    }),
    async (c) => {
      await removeFlag(sql, c.req.valid("param").codename);
      return c.json({ message: "Feature flag deleted successfully" }, 200);
    },
  );

  return router;
}
