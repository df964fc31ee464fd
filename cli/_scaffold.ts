/**
 * The files `tusk new resource NAME` writes, as templates over the names it
 * derives: here the names, the migration, the db module, the rules and the
 * job; the router and the tests in `_scaffold_routes.ts` and
 * `_scaffold_tests.ts`. docs/guide.md shows them for `notes`, and a test
 * checks the guide against what they write.
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
