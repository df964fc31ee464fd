/**
 * Feature flags: anyone may list them; superusers read their rules, create,
 * change, explain and delete them.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type FeatureFlag, getFlag, lastEvaluations, listFlags } from "../db/feature_flags.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import { HttpError } from "../lib/http_error.ts";
import { explainFlag } from "../services/flag_rules.ts";
import {
  addFlag,
  changeFlag,
  Codename,
  definitionOf,
  FlagTargeting,
  isStale,
  removeFlag,
} from "../services/flags.ts";
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
  rules: z.array(z.record(z.string(), z.unknown())).openapi({
    description: "Evaluated in order, first match wins (docs/flags.md)",
  }),
  variants: z.record(z.string(), z.unknown()).nullable(),
  default_variant: z.string().nullable(),
  client_visible: z.boolean(),
  last_evaluated_at: z.string().nullable().openapi({ format: "date-time" }),
  stale: z.boolean().openapi({ description: "Not evaluated (nor changed) for FLAG_STALE_DAYS" }),
}).openapi("FeatureFlag");
const Explained = z.object({
  value: z.unknown().optional(),
  variant: z.string().optional(),
  reason: z.string(),
  rule: z.number().int().optional(),
  error: z.string().optional(),
  steps: z.array(z.object({
    rule: z.number().int(),
    description: z.string(),
    outcome: z.string(),
  })),
}).openapi("FeatureFlagExplanation");
const ExplainRequest = z.object({
  context: z.record(z.string(), z.unknown()).default({}).openapi({
    description: "The subject: targetingKey and any attributes, as in OFREP",
  }),
});
const FlagsPublic = z.object({ data: z.array(FlagPublic), count: z.number().int() }).openapi(
  "FeatureFlagsPublic",
);
/** What creating a flag takes (the console's form is checked against it too). */
export const FlagCreate = z.object({
  codename: Codename,
  is_active: z.boolean().default(false),
  label: z.string().max(255).nullable().optional(),
  description: z.string().max(2000).nullable().optional(),
}).extend(FlagTargeting.shape).openapi("FeatureFlagCreate");
const FlagUpdate = z.object({
  is_active: z.boolean().optional(),
  label: z.string().max(255).nullable().optional(),
  description: z.string().max(2000).nullable().optional(),
}).extend(FlagTargeting.shape).openapi("FeatureFlagUpdate");

function detail(
  flag: FeatureFlag,
  lastEvaluated: Date | undefined,
  staleDays: number,
): z.infer<typeof FlagDetail> {
  return {
    ...flag,
    updated_at: flag.updated_at.toISOString(),
    last_evaluated_at: lastEvaluated?.toISOString() ?? null,
    stale: isStale(flag, lastEvaluated, staleDays),
  };
}

/** `/flags/*`. */
export function flagRoutes(deps: AppDeps) {
  const { sql, config } = deps;
  const router = newRouter();
  const staleDays = config.flags.staleDays;
  const detailOf = async (flag: FeatureFlag) =>
    detail(flag, (await lastEvaluations(sql, [flag.codename])).get(flag.codename), staleDays);
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
        422: json(HttpErrorBody, "Rules or variants that do not hold together"),
      },
    }),
    async (c) => {
      return c.json(await detailOf(await addFlag(sql, c.req.valid("json"))), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/flags/{codename}",
      tags: ["flags"],
      operationId: "flags-update_flag",
      summary: "Turn a flag on or off, relabel it, or change its rules (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: { ...param, ...jsonRequest(FlagUpdate) },
      responses: {
        200: json(FlagDetail, "The flag"),
        404: json(HttpErrorBody, "No such flag"),
        422: json(HttpErrorBody, "Rules or variants that do not hold together"),
      },
    }),
    async (c) => {
      const flag = await changeFlag(sql, c.req.valid("param").codename, c.req.valid("json"));
      return c.json(await detailOf(flag), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/flags/{codename}",
      tags: ["flags"],
      operationId: "flags-read_flag",
      summary: "One flag with its rules, variants and last evaluation (superuser)",
      middleware: admin,
      security: BEARER,
      request: param,
      responses: { 200: json(FlagDetail, "The flag"), 404: json(HttpErrorBody, "No such flag") },
    }),
    async (c) => {
      const flag = await getFlag(sql, c.req.valid("param").codename);
      if (flag === undefined) throw new HttpError(404, "Feature flag not found");
      return c.json(await detailOf(flag), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/flags/{codename}/explain",
      tags: ["flags"],
      operationId: "flags-explain_flag",
      summary: "What the flag gives a subject, and which rules decided (superuser)",
      // A read, but a POST: it honours Idempotency-Key like every authenticated POST.
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: { ...param, ...jsonRequest(ExplainRequest) },
      responses: {
        200: json(Explained, "The evaluation and the rules it went through"),
        404: json(HttpErrorBody, "No such flag"),
      },
    }),
    async (c) => {
      const flag = await getFlag(sql, c.req.valid("param").codename);
      if (flag === undefined) throw new HttpError(404, "Feature flag not found");
      const { evaluation, steps } = explainFlag(definitionOf(flag), c.req.valid("json").context);
      return c.json({ ...evaluation, steps }, 200);
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
