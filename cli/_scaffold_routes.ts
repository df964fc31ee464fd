/**
 * The router template of `tusk new resource NAME`: `routes/NAME.ts`, with its
 * zod schemas (they check requests and document them in OpenAPI).
 *
 * @module
 */
import type { Names } from "./_scaffold.ts";

/** `routes/NAME.ts`. */
export function routesModule(n: Names): string {
  const tag = n.table;
  return `/**
 * \`${n.path}\`: each user's own ${n.table.replaceAll("_", " ")}, with the API's answers (401, 403,
 * 404, 422) and OpenAPI documentation from the same zod schemas that check requests.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { ${n.One} } from "../db/${n.table}.ts";
import { currentUser } from "../http/current_user.ts";
import { idempotent } from "../http/idempotency.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import {
  change${n.One},
  create${n.One}For,
  list${n.Many}For,
  ${n.oneCamel}For,
  remove${n.One},
} from "../services/${n.table}.ts";
import { BEARER, HttpErrorBody, IdParam, json, jsonRequest, Message, Page } from "./schemas.ts";

const Title = z.string().min(1).max(255);
const Body = z.string().max(10_000).nullable();

export const ${n.One}Public = z.object({
  id: z.uuid(),
  title: z.string(),
  body: z.string().nullable(),
  owner_id: z.uuid(),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("${n.One}Public");
export const ${n.Many}Public = z.object({ data: z.array(${n.One}Public), count: z.number().int() })
  .openapi("${n.Many}Public");
export const ${n.One}Create = z.object({ title: Title, body: Body.optional() }).openapi("${n.One}Create");
export const ${n.One}Update = z.object({ title: Title.optional(), body: Body.optional() })
  .openapi("${n.One}Update");

/** A row as clients see it. */
export function to${n.One}Public(row: ${n.One}): z.infer<typeof ${n.One}Public> {
  return { ...row, created_at: row.created_at.toISOString() };
}

const denied = {
  403: json(HttpErrorBody, "Someone else's"),
  404: json(HttpErrorBody, "No such ${n.words}"),
};

const read${n.Many}Route = createRoute({
  method: "get",
  path: "${n.path}",
  tags: ["${tag}"],
  operationId: "${tag}-read_${n.table}",
  summary: "Your ${n.table.replaceAll("_", " ")}, newest first (everyone's for a superuser)",
  security: BEARER,
  request: { query: Page },
  responses: { 200: json(${n.Many}Public, "A page") },
});
const read${n.One}Route = createRoute({
  method: "get",
  path: "${n.path}/{id}",
  tags: ["${tag}"],
  operationId: "${tag}-read_${n.one}",
  summary: "One of yours",
  security: BEARER,
  request: { params: IdParam("id") },
  responses: { 200: json(${n.One}Public, "It"), ...denied },
});
const create${n.One}Route = createRoute({
  method: "post",
  path: "${n.path}",
  tags: ["${tag}"],
  operationId: "${tag}-create_${n.one}",
  summary: "Create one you own",
  security: BEARER,
  request: jsonRequest(${n.One}Create),
  responses: { 200: json(${n.One}Public, "The new one") },
});
const update${n.One}Route = createRoute({
  method: "put",
  path: "${n.path}/{id}",
  tags: ["${tag}"],
  operationId: "${tag}-update_${n.one}",
  summary: "Change one of yours",
  security: BEARER,
  request: { params: IdParam("id"), ...jsonRequest(${n.One}Update) },
  responses: { 200: json(${n.One}Public, "Changed"), ...denied },
});
const delete${n.One}Route = createRoute({
  method: "delete",
  path: "${n.path}/{id}",
  tags: ["${tag}"],
  operationId: "${tag}-delete_${n.one}",
  summary: "Delete one of yours",
  security: BEARER,
  request: { params: IdParam("id") },
  responses: { 200: json(Message, "Deleted"), ...denied },
});

/** \`${n.path}/*\`. */
export function ${n.oneCamel}Routes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const auth = currentUser(deps);
  const write = [auth, idempotent(deps)];

  router.openapi({ ...read${n.Many}Route, middleware: [auth] }, async (c) => {
    const page = await list${n.Many}For(sql, c.get("user"), c.req.valid("query"));
    return c.json({ data: page.data.map(to${n.One}Public), count: page.count }, 200);
  });
  router.openapi({ ...read${n.One}Route, middleware: [auth] }, async (c) => {
    const row = await ${n.oneCamel}For(sql, c.get("user"), c.req.valid("param").id as string);
    return c.json(to${n.One}Public(row), 200);
  });
  router.openapi({ ...create${n.One}Route, middleware: write }, async (c) => {
    const row = await create${n.One}For(sql, c.get("user"), c.req.valid("json"));
    return c.json(to${n.One}Public(row), 200);
  });
  router.openapi({ ...update${n.One}Route, middleware: write }, async (c) => {
    const id = c.req.valid("param").id as string;
    const row = await change${n.One}(sql, c.get("user"), id, c.req.valid("json"));
    return c.json(to${n.One}Public(row), 200);
  });
  router.openapi({ ...delete${n.One}Route, middleware: write }, async (c) => {
    await remove${n.One}(sql, c.get("user"), c.req.valid("param").id as string);
    return c.json({ message: "Deleted" }, 200);
  });
  return router;
}
`;
}
