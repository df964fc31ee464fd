/**
 * The `items` table: one function per query.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A row of `items`. */
export interface Item {
  id: string;
  title: string;
  description: string | null;
  owner_id: string;
  created_at: Date;
}

/** A page of items, newest first, with the total; `ownerId` limits it to one owner. */
export async function listItems(
  sql: Sql | Tx,
  options: { ownerId?: string; skip: number; limit: number },
): Promise<{ data: Item[]; count: number }> {
  const where = options.ownerId === undefined ? sql`` : sql`where owner_id = ${options.ownerId}`;
  const [total] = await sql<{ count: number }[]>`select count(*)::int as count from items ${where}`;
  const data = await sql<Item[]>`
    select * from items ${where}
    order by created_at desc, id desc offset ${options.skip} limit ${options.limit}
  `;
  return { data, count: total!.count };
}

/** One item by id. */
export async function getItem(sql: Sql | Tx, id: string): Promise<Item | undefined> {
  const [item] = await sql<Item[]>`select * from items where id = ${id}`;
  return item;
}

/** Creates an item owned by `ownerId`. */
export async function createItem(
  sql: Sql | Tx,
  ownerId: string,
  fields: { title: string; description?: string | null },
): Promise<Item> {
  const [item] = await sql<Item[]>`
    insert into items (title, description, owner_id)
    values (${fields.title}, ${fields.description ?? null}, ${ownerId})
    returning *
  `;
  return item!;
}

/** Changes title and/or description; undefined when no such item. */
export async function updateItem(
  sql: Sql | Tx,
  id: string,
  fields: { title?: string; description?: string | null },
): Promise<Item | undefined> {
  const columns = (["title", "description"] as const).filter((k) => fields[k] !== undefined);
  if (columns.length === 0) return await getItem(sql, id);
  const [item] = await sql<Item[]>`update items set ${
    sql(fields, columns)
  } where id = ${id} returning *`;
  return item;
}

/** Deletes an item; true when one was deleted. */
export async function deleteItem(sql: Sql | Tx, id: string): Promise<boolean> {
  const rows = await sql`delete from items where id = ${id} returning id`;
  return rows.length > 0;
}
