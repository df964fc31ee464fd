/**
 * Who may see a row of a tracked table: the one rule that `GET /items/{id}`,
 * the history of an item or a user, and the live event stream all apply.
 *
 * - superusers see every row;
 * - a `users` row is seen by the user it is;
 * - any other row with an `owner_id` column is seen by its owner (before or
 *   after a change, so a row given away is seen leaving and arriving);
 * - anything else is for superusers only.
 *
 * The event stream's replay applies the same rule in SQL
 * (`db/live_events.ts`, `visibleTo`); a test holds the two to the same answers.
 *
 * @module
 */

/** The table whose rows are people: each sees their own. */
export const SELF_TABLE = "users";
/** The column that names a row's owner, in any other table. */
export const OWNER_COLUMN = "owner_id";

/** Who is asking: enough of a user to apply the rule. */
export interface Viewer {
  id: string;
  is_superuser: boolean;
}

/** A row (or a change to one) to decide on: the history event's table, row id, data and diff. */
export interface RowView {
  table: string;
  row_id: string;
  /** The row's columns (an object such as `Item` will do). */
  data: object;
  diff?: Record<string, [unknown, unknown]> | null;
}

/**
 * The ids of the users, besides superusers, who may see `row` (or this
 * change to it); empty when only superusers may.
 *
 * @example
 * ```ts
 * audienceOf({ table: "items", row_id: id, data: { owner_id: alice } }); // [alice]
 * ```
 */
export function audienceOf(row: RowView): string[] {
  if (row.table === SELF_TABLE) return [row.row_id];
  const ids: string[] = [];
  const now = (row.data as Record<string, unknown>)[OWNER_COLUMN];
  if (typeof now === "string") ids.push(now);
  const before = row.diff?.[OWNER_COLUMN]?.[0];
  if (typeof before === "string" && before !== now) ids.push(before);
  return ids;
}

/**
 * Whether `viewer` may see `row`.
 *
 * @example
 * ```ts
 * if (!canSee(user, { table: "items", row_id: item.id, data: item })) throw forbidden();
 * ```
 */
export function canSee(viewer: Viewer, row: RowView): boolean {
  return viewer.is_superuser || audienceOf(row).includes(viewer.id);
}
