/**
 * The files `tusk new resource NAME` writes, as templates over the names it
 * derives. docs/guide.md shows them for `notes`, and a test checks the guide
 * against what this writes.
 *
 * @module
 */

/** Every spelling of a resource's name a template needs. */
export interface Names {
  /** The table and URL segment, plural snake case: `notes`, `todo_items`. */
  table: string;
  /** Singular snake case: `note`. */
  one: string;
  /** `Note`, `TodoItem`. */
  One: string;
  /** `Notes`, `TodoItems`. */
  Many: string;
  /** `notes`, `todoItems`. */
  many: string;
  /** `note`, `todoItem`. */
  oneCamel: string;
  /** The URL path: `/notes`, `/todo-items`. */
  path: string;
  /** Job name (kebab case): `note-created`. */
  job: string;
  /** In a sentence: `note`, `todo item`. */
  words: string;
}

function pascal(snake: string): string {
  return snake.split("_").map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

function camel(snake: string): string {
  const p = pascal(snake);
  return p[0]!.toLowerCase() + p.slice(1);
}

/** The names for `table` (plural), with `one` its singular. */
export function namesOf(table: string, one: string): Names {
  return {
    table,
    one,
    One: pascal(one),
    Many: pascal(table),
    many: camel(table),
    oneCamel: camel(one),
    path: `/${table.replaceAll("_", "-")}`,
    job: `${one.replaceAll("_", "-")}-created`,
    words: one.replaceAll("_", " "),
  };
}

/** `migrations/NNNN_NAME.sql`. */
export function migrationUp(n: Names): string {
  return `-- ${n.table}: each owned by a user, every change recorded in audit history.
-- Until it is deployed, edit this file and run deno task migrate:redo; after that, add a
-- new migration instead.

create table ${n.table} (
  id uuid primary key default gen_random_uuid(),
  title text not null check (char_length(title) between 1 and 255),
  body text check (char_length(body) <= 10000),
  owner_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now()
);

-- A user's own, newest first (and the cascade when the user is deleted).
create index ${n.table}_owner_created_at_idx on ${n.table} (owner_id, created_at desc, id desc);
-- Everyone's, newest first, for superusers.
create index ${n.table}_created_at_idx on ${n.table} (created_at desc, id desc);

select tusk_history.track('${n.table}');
`;
}

/** `migrations/NNNN_NAME.down.sql`. */
export function migrationDown(n: Names): string {
  return `select tusk_history.untrack('${n.table}');
drop table ${n.table};
`;
}

/** `db/NAME.ts`. */
export function dbModule(n: Names): string {
  return `/**
 * The \`${n.table}\` table: one function per query.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A row of \`${n.table}\`. */
export interface ${n.One} {
  id: string;
  title: string;
  body: string | null;
  owner_id: string;
  created_at: Date;
}

/** What a caller may set. */
export interface ${n.One}Fields {
  title?: string;
  body?: string | null;
}

/** A page of ${n.table}, newest first, with the total; \`ownerId\` keeps one owner's. */
export async function list${n.Many}(
  sql: Sql | Tx,
  options: { ownerId?: string; skip: number; limit: number },
): Promise<{ data: ${n.One}[]; count: number }> {
  const where = options.ownerId === undefined ? sql\`\` : sql\`where owner_id = \${options.ownerId}\`;
  const [total] = await sql<{ count: number }[]>\`select count(*)::int as count from ${n.table} \${where}\`;
  const data = await sql<${n.One}[]>\`
    select * from ${n.table} \${where}
    order by created_at desc, id desc offset \${options.skip} limit \${options.limit}
  \`;
  return { data, count: total!.count };
}

/** One by id. */
export async function get${n.One}(sql: Sql | Tx, id: string): Promise<${n.One} | undefined> {
  const [row] = await sql<${n.One}[]>\`select * from ${n.table} where id = \${id}\`;
  return row;
}

/** Inserts one owned by \`ownerId\`. */
export async function create${n.One}(
  sql: Sql | Tx,
  ownerId: string,
  fields: ${n.One}Fields & { title: string },
): Promise<${n.One}> {
  const [row] = await sql<${n.One}[]>\`
    insert into ${n.table} (title, body, owner_id)
    values (\${fields.title}, \${fields.body ?? null}, \${ownerId})
    returning *
  \`;
  return row!;
}

/** Changes the fields given; undefined when there is no such row. */
export async function update${n.One}(
  sql: Sql | Tx,
  id: string,
  fields: ${n.One}Fields,
): Promise<${n.One} | undefined> {
  const columns = (["title", "body"] as const).filter((k) => fields[k] !== undefined);
  if (columns.length === 0) return await get${n.One}(sql, id);
  const [row] = await sql<${n.One}[]>\`
    update ${n.table} set \${sql(fields, columns)} where id = \${id} returning *\`;
  return row;
}

/** Deletes one; true when it existed. */
export async function delete${n.One}(sql: Sql | Tx, id: string): Promise<boolean> {
  const rows = await sql\`delete from ${n.table} where id = \${id} returning id\`;
  return rows.length > 0;
}
`;
}

/** `services/NAME.ts`. */
export function serviceModule(n: Names, withJob: boolean): string {
  const jobImport = withJob ? `import { inAmbientTransaction } from "../db/ambient.ts";\n` : "";
  const jobModule = withJob
    ? `import { ${n.oneCamel}Created } from "../jobs/${n.one}_created.ts";\n`
    : "";
  const create = withJob
    ? `/**
 * Creates one owned by \`user\` and queues \`${n.job}\` in the same
 * transaction: the row and its job commit together, or neither does.
 */
export async function create${n.One}For(
  sql: Sql,
  user: User,
  fields: ${n.One}Fields & { title: string },
): Promise<${n.One}> {
  return await sql.begin((tx) =>
    inAmbientTransaction(tx, async () => {
      const row = await create${n.One}(sql, user.id, fields);
      await ${n.oneCamel}Created.delay({ id: row.id }, { tx });
      return row;
    })
  );
}`
    : `/** Creates one owned by \`user\`. */
export async function create${n.One}For(
  sql: Sql,
  user: User,
  fields: ${n.One}Fields & { title: string },
): Promise<${n.One}> {
  return await create${n.One}(sql, user.id, fields);
}`;
  return `/**
 * The rules of \`${n.table}\`: each user sees and changes only their own;
 * superusers see and change all.
 *
 * @module
 */
${jobImport}import type { Sql } from "../db/client.ts";
import {
  create${n.One},
  delete${n.One},
  get${n.One},
  list${n.Many},
  type ${n.One},
  type ${n.One}Fields,
  update${n.One},
} from "../db/${n.table}.ts";
import type { User } from "../db/users.ts";
${jobModule}import { HttpError } from "../lib/http_error.ts";

const NOT_FOUND = "${n.words[0]!.toUpperCase() + n.words.slice(1)} not found";

/** The row \`user\` may touch: 404 when there is none, 403 when it is someone else's. */
export async function ${n.oneCamel}For(sql: Sql, user: User, id: string): Promise<${n.One}> {
  const row = await get${n.One}(sql, id);
  if (row === undefined) throw new HttpError(404, NOT_FOUND);
  if (!user.is_superuser && row.owner_id !== user.id) {
    throw new HttpError(403, "Not enough permissions");
  }
  return row;
}

/** A page of \`user\`'s own, newest first; every one for a superuser. */
export async function list${n.Many}For(
  sql: Sql,
  user: User,
  page: { skip: number; limit: number },
): Promise<{ data: ${n.One}[]; count: number }> {
  return await list${n.Many}(sql, { ...page, ownerId: user.is_superuser ? undefined : user.id });
}

${create}

/** Changes one \`user\` may touch. */
export async function change${n.One}(
  sql: Sql,
  user: User,
  id: string,
  fields: ${n.One}Fields,
): Promise<${n.One}> {
  const row = await ${n.oneCamel}For(sql, user, id);
  const updated = await update${n.One}(sql, row.id, fields);
  if (updated === undefined) throw new HttpError(404, NOT_FOUND);
  return updated;
}

/** Deletes one \`user\` may touch. */
export async function remove${n.One}(sql: Sql, user: User, id: string): Promise<void> {
  const row = await ${n.oneCamel}For(sql, user, id);
  await delete${n.One}(sql, row.id);
}
`;
}

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

/** `jobs/ONE_created.ts` (with `--job`). */
export function jobModule(n: Names): string {
  return `/**
 * \`${n.job}\`: runs after each new ${n.words}, queued in the same transaction as
 * its insert. Replace the handler's body with the work a new one needs (an
 * email, a call to another service, a derived row). Delivery is at least
 * once: make what it does safe to repeat.
 *
 * @module
 */
import { z } from "zod";
import { get${n.One} } from "../db/${n.table}.ts";
import { defineJob } from "./define.ts";

/** The job for a new ${n.words}: its id only, so the payload never goes stale. */
export const ${n.oneCamel}Created = defineJob({
  name: "${n.job}",
  schema: z.object({ id: z.uuid() }),
  policy: { retryLimit: 5, retryDelay: 10, retryBackoff: true, expireInSeconds: 60 },
  async handler({ id }, { sql, log, attempt }) {
    const row = await get${n.One}(sql, id);
    if (row === undefined) {
      log.info("${n.job}: gone before its job ran", { id });
      return;
    }
    log.info("${n.job}", { id, owner_id: row.owner_id, attempt });
    return { title_length: row.title.length };
  },
});
`;
}

/** `tests/routes/NAME_test.ts`. */
export function testModule(n: Names, withJob: boolean): string {
  const base = `/api/v1${n.path}`;
  const jobTest = withJob
    ? `
Deno.test("${n.table}: a new one queues ${n.job} with its id, in the same transaction", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const made = await call(app, "${base}/", jsonBody("POST", { title: "queued" }, aliceH));
  const jobs = await db.sql\`select data from pgboss.job where name = '${n.job}'\`;
  assert.deepEqual(jobs.map((j) => j.data), [{ id: made.body.id }]);
  await db.sql\`alter table ${n.table} add constraint refuse check (title <> 'refused') not valid\`;
  const refused = await call(app, "${base}/", jsonBody("POST", { title: "refused" }, aliceH));
  assert.equal(refused.status, 422);
  const after = await db.sql\`select count(*)::int as n from pgboss.job where name = '${n.job}'\`;
  assert.equal(after[0]!.n, 1, "a write that fails leaves no job");
});
`
    : "";
  return `import assert from "node:assert/strict";
import { appWithUsers } from "../_app.ts";
import { call, jsonBody } from "../_factories.ts";

const BASE = "${base}";

Deno.test("${n.table}: create, read, list, update and delete your own", async () => {
  const { db, app, aliceH, alice } = await appWithUsers();
  await using _ = db;
  const made = await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "First", body: "Hello" }, aliceH));
  assert.equal(made.status, 200, JSON.stringify(made.body));
  assert.equal(made.body.owner_id, alice.user.id);
  assert.equal(made.body.body, "Hello");
  const one = await call(app, \`\${BASE}/\${made.body.id}\`, { headers: aliceH });
  assert.deepEqual(one.body, made.body);
  await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "Second" }, aliceH));
  const page = await call(app, \`\${BASE}/\`, { headers: aliceH });
  assert.equal(page.body.count, 2);
  assert.deepEqual(page.body.data.map((r: { title: string }) => r.title), ["Second", "First"]);
  const changed = await call(
    app,
    \`\${BASE}/\${made.body.id}\`,
    jsonBody("PUT", { title: "Renamed" }, aliceH),
  );
  assert.equal(changed.status, 200);
  assert.equal(changed.body.title, "Renamed");
  assert.equal(changed.body.body, "Hello", "fields not sent stay");
  const gone = await call(app, \`\${BASE}/\${made.body.id}\`, { method: "DELETE", headers: aliceH });
  assert.deepEqual(gone, { status: 200, body: { message: "Deleted" } });
  assert.equal((await call(app, \`\${BASE}/\${made.body.id}\`, { headers: aliceH })).status, 404);
});

Deno.test("${n.table}: others' are 403, unknown ones 404, bad input 422, no token 401", async () => {
  const { db, app, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const made = await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "Alice's" }, aliceH));
  const url = \`\${BASE}/\${made.body.id}\`;
  for (const init of [{ headers: bobH }, { method: "DELETE", headers: bobH }, jsonBody("PUT", { title: "x" }, bobH)]) {
    const res = await call(app, url, init);
    assert.deepEqual(res, { status: 403, body: { detail: "Not enough permissions" } });
  }
  assert.equal((await call(app, \`\${BASE}/\`, { headers: bobH })).body.count, 0);
  assert.equal((await call(app, \`\${BASE}/\`, { headers: adminH })).body.count, 1, "superusers see all");
  assert.equal((await call(app, url, { headers: adminH })).status, 200);
  const unknown = await call(app, \`\${BASE}/\${crypto.randomUUID()}\`, { headers: aliceH });
  assert.equal(unknown.status, 404);
  assert.equal((await call(app, \`\${BASE}/not-a-uuid\`, { headers: aliceH })).status, 422);
  assert.equal((await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "" }, aliceH))).status, 422);
  const anonymous = await call(app, \`\${BASE}/\`);
  assert.deepEqual(anonymous, { status: 401, body: { detail: "Not authenticated" } });
});

Deno.test("${n.table}: every change is in audit history with the user and the route", async () => {
  const { db, app, aliceH, alice, adminH } = await appWithUsers();
  await using _ = db;
  const made = await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "v1" }, aliceH));
  await call(app, \`\${BASE}/\${made.body.id}\`, jsonBody("PUT", { title: "v2" }, aliceH));
  const history = await call(app, \`/api/v1/history/?table=${n.table}&row_id=\${made.body.id}\`, {
    headers: adminH,
  });
  assert.equal(history.status, 200);
  const [update, insert] = history.body.data;
  assert.equal(insert.op, "insert");
  assert.deepEqual(update.diff, { title: ["v1", "v2"] });
  assert.equal(update.context.user_id, alice.user.id);
  assert.equal(update.context.route, \`\${BASE}/:id\`);
});

Deno.test("${n.table}: the routes are in the OpenAPI document", async () => {
  const { db, app } = await appWithUsers();
  await using _ = db;
  const doc = await (await app.request("/api/v1/openapi.json")).json();
  assert.deepEqual(Object.keys(doc.paths[BASE]).sort(), ["get", "post"]);
  assert.deepEqual(Object.keys(doc.paths[\`\${BASE}/{id}\`]).sort(), ["delete", "get", "put"]);
});
${jobTest}`;
}
