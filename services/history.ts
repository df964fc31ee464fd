/**
 * Audit history rules shared by the API, the command line and the console:
 * reverting an event, and which tables may be filtered on.
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import type { Sql, Tx } from "../db/client.ts";
import {
  deleteRow,
  getEvent,
  getTracked,
  hasEvents,
  type HistoryEvent,
  insertRow,
  listEvents,
  listTracked,
  lockTrackedRow,
  setColumns,
  type TrackedTable,
} from "../db/history.ts";
import { currentHistoryContext, withHistoryContext } from "../db/history_context.ts";
import { checkUserRowChange } from "./accounts.ts";
import { HttpError } from "../lib/http_error.ts";
import { inSpan } from "../lib/telemetry.ts";

const CHANGED = "The row has changed since this event";

/** Postgres constraint errors a revert can run into, in words. */
const CONSTRAINT_WORDS: Record<string, string> = {
  "23503": "a row it refers to no longer exists, or rows refer to it",
  "23505": "another row already has that value",
  "23502": "a required column would be empty (it is not kept in history)",
  "23514": "a check on the table fails",
  "23P01": "it overlaps another row",
};

/**
 * Checks a `table` filter: a table tracked now, or one with events left
 * (history outlives `untrack`). Returns the tracked tables when it is neither,
 * for the error message; undefined when the table is fine.
 */
export async function unknownHistoryTable(sql: Sql, table: string): Promise<string[] | undefined> {
  return (await unknownHistoryTables(sql, [table]))?.tracked;
}

/**
 * {@link unknownHistoryTable} for several tables, reading the tracked ones
 * once: the first that is neither tracked nor has events, with the tracked
 * tables; undefined when all are fine.
 */
export async function unknownHistoryTables(
  sql: Sql,
  tables: string[],
): Promise<{ table: string; tracked: string[] } | undefined> {
  const tracked = (await listTracked(sql)).map((t) => t.table_name);
  for (const table of tables) {
    if (!tracked.includes(table) && !await hasEvents(sql, table)) return { table, tracked };
  }
  return undefined;
}

/**
 * Restores the row to its state before event `id` (an update: the old values
 * of the changed columns; a delete: the row re-inserted; an insert: the row
 * deleted) and returns the new `revert` event. Refuses (409) when the row has
 * changed since, unless `force`; 404 for an unknown event.
 */
export function revertEvent(
  sql: Sql,
  id: string,
  options: { force?: boolean } = {},
): Promise<HistoryEvent> {
  const attributes = { "tusk.history.event_id": id, "tusk.history.force": options.force ?? false };
  return inSpan("history.revert", { attributes }, async (span) => {
    const event = await getEvent(sql, id);
    if (event === undefined) throw new HttpError(404, "History event not found");
    span.setAttributes({ "db.collection.name": event.table, "tusk.history.op": event.op });
    try {
      return await withHistoryContext({ label: "revert", reverted_event: event.id }, async (tx) => {
        const table = await getTracked(tx, event.table);
        if (table === undefined) {
          throw new HttpError(
            409,
            `The table ${event.table} is no longer tracked, so its events cannot be reverted`,
          );
        }
        await undo(tx, table, event, options.force ?? false);
        const [made] = (await listEvents(tx, { context_id: currentHistoryContext()!.id }, {
          skip: 0,
          limit: 1,
          order: "desc",
        })).data;
        if (made === undefined) {
          throw new HttpError(409, "Nothing to revert: the row already matches");
        }
        return made;
      }, { sql });
    } catch (error) {
      const pg = error as { code?: string; constraint_name?: string };
      const words = pg.code === undefined ? undefined : CONSTRAINT_WORDS[pg.code];
      if (words === undefined) throw error;
      const name = pg.constraint_name ? ` (${pg.constraint_name})` : "";
      throw new HttpError(409, `The revert would break a constraint${name}: ${words}`);
    }
  });
}

async function undo(tx: Tx, table: TrackedTable, event: HistoryEvent, force: boolean) {
  const current = await lockTrackedRow(tx, table, event.row_id);
  if (event.op === "update") {
    if (current === undefined) {
      throw new HttpError(409, `${CHANGED}: it was deleted (revert the delete instead)`);
    }
    const diff = event.diff ?? {};
    const columns = Object.keys(diff);
    if (!force && columns.some((c) => !isDeepStrictEqual(current[c], diff[c]![1]))) {
      throw new HttpError(409, CHANGED);
    }
    const before = Object.fromEntries(columns.map((c) => [c, diff[c]![0]]));
    await keepRowRules(tx, table, current, before);
    await setColumns(tx, table, event.row_id, before, columns);
  } else if (event.op === "delete") {
    if (current === undefined) {
      await insertRow(tx, table, event.data);
    } else if (!force) {
      throw new HttpError(409, `${CHANGED}: it exists again`);
    } else {
      const columns = Object.keys(event.data).filter((c) => c !== table.pk_column);
      await keepRowRules(tx, table, current, event.data);
      await setColumns(tx, table, event.row_id, event.data, columns);
    }
  } else {
    if (current === undefined) {
      throw new HttpError(409, "Nothing to revert: the row no longer exists");
    }
    if (!force && !isDeepStrictEqual(current, event.data)) throw new HttpError(409, CHANGED);
    await keepRowRules(tx, table, current, undefined);
    await deleteRow(tx, table, event.row_id);
  }
}

/**
 * A revert writes rows directly, so the rules the API keeps for a table are
 * kept here too: for `users`, the last active superuser stays, and losing
 * `is_active` or `is_superuser` revokes the user's tokens. `next` is what the
 * revert writes; undefined deletes the row.
 */
async function keepRowRules(
  tx: Tx,
  table: TrackedTable,
  current: Record<string, unknown>,
  next: Record<string, unknown> | undefined,
): Promise<void> {
  if (table.table_name !== "users") return;
  const user = current as { id: string; is_active: boolean; is_superuser: boolean };
  await checkUserRowChange(tx, user, next as Partial<typeof user> | undefined);
}
