/**
 * The audit history tables (`tusk_history.events`, `contexts`, `tracked`):
 * one function per query, plus the generic row operations revert needs.
 *
 * @module
 */
import { type Sql, type Tx, whereAll } from "./client.ts";
import { deleteLogBefore } from "./live_events.ts";

/** An event as the API shows it (see HistoryEvent in the API document). */
export interface HistoryEvent {
  /** A bigint, as a string; events are ordered by it. */
  id: string;
  table: string;
  row_id: string;
  op: "insert" | "update" | "delete";
  label: string;
  at: Date;
  data: Record<string, unknown>;
  diff: Record<string, [unknown, unknown]> | null;
  /** `{id, ...metadata}`, or null for a change made outside any context (e.g. psql). */
  context: Record<string, unknown> | null;
  /** The database role and `application_name` of the session that made the change. */
  db_user: string;
  application_name: string | null;
}

/** A tracked table, as `tusk_history.track()` registered it. */
export interface TrackedTable {
  table_name: string;
  pk_column: string;
  excluded: string[];
  ops: string[];
}

/** Filters of `GET /history/`; all optional, combined with AND. */
export interface HistoryFilters {
  table?: string;
  row_id?: string;
  user_id?: string;
  request_id?: string;
  job_id?: string;
  label?: string;
  op?: string;
  since?: Date;
  until?: Date;
  /** Only the events of this context. */
  context_id?: string;
}

interface EventRow extends Omit<HistoryEvent, "context"> {
  context_id: string | null;
  metadata: Record<string, unknown> | null;
}

function toEvent({ context_id, metadata, ...event }: EventRow): HistoryEvent {
  return { ...event, context: context_id === null ? null : { id: context_id, ...metadata } };
}

/** The filters on the event itself; each is served by an index or narrows what another found. */
function eventConditions(sql: Sql | Tx, f: HistoryFilters) {
  return [
    f.table === undefined ? undefined : sql`e.table_name = ${f.table}`,
    f.row_id === undefined ? undefined : sql`e.row_id = ${f.row_id}`,
    f.label === undefined ? undefined : sql`e.label = ${f.label}`,
    f.op === undefined ? undefined : sql`e.op = ${f.op}`,
    f.since === undefined ? undefined : sql`e.at >= ${f.since}`,
    f.until === undefined ? undefined : sql`e.at < ${f.until}`,
    f.context_id === undefined ? undefined : sql`e.context_id = ${f.context_id}`,
  ];
}

/** The filters on the context's metadata: containment, so the GIN index on it answers them. */
function contextConditions(sql: Sql | Tx, f: HistoryFilters) {
  return [
    f.user_id === undefined ? undefined : sql`c.metadata @> ${sql.json({ user_id: f.user_id })}`,
    f.request_id === undefined
      ? undefined
      : sql`c.metadata @> ${sql.json({ request_id: f.request_id })}`,
    f.job_id === undefined ? undefined : sql`c.metadata @> ${sql.json({ job_id: f.job_id })}`,
  ].filter((c) => c !== undefined);
}

/**
 * The `from ... where` of a listing. With a context filter (a request, a job, a user) the
 * contexts it names are found first and each one's events are read through
 * `events_context_idx`, so the cost follows the events that match, not the size of the table.
 * Written as a join, Postgres was free to walk every event newest first looking for the few of
 * one request instead: 1.1 s at 1,000,000 events on PostgreSQL 15 without statistics
 * (BENCHMARKS.md, "Audit history at depth"). `offset 0` keeps the lateral subquery from being
 * merged back into such a join.
 */
function eventsFrom(sql: Sql | Tx, f: HistoryFilters) {
  const byContext = contextConditions(sql, f);
  if (byContext.length === 0) {
    return sql`
      from tusk_history.events e left join tusk_history.contexts c on c.id = e.context_id
      ${whereAll(sql, eventConditions(sql, f))}`;
  }
  return sql`
    from tusk_history.contexts c
    cross join lateral (
      select * from tusk_history.events e
      ${whereAll(sql, [sql`e.context_id = c.id`, ...eventConditions(sql, f)])}
      offset 0
    ) e
    ${whereAll(sql, byContext)}`;
}

/**
 * A page of events matching `filters`, with the total: oldest first for one
 * row's history, newest first for the audit log.
 */
export async function listEvents(
  sql: Sql | Tx,
  filters: HistoryFilters,
  page: { skip: number; limit: number; order: "asc" | "desc" },
): Promise<{ data: HistoryEvent[]; count: number }> {
  const from = eventsFrom(sql, filters);
  const [total] = await sql<{ count: number }[]>`select count(*)::int as count ${from}`;
  const rows = await sql<EventRow[]>`
    select e.id::text as id, e.table_name as table, e.row_id, e.op, e.label, e.at, e.data,
      e.diff, e.db_user, e.application_name, e.context_id, c.metadata
    ${from}
    order by e.id ${page.order === "asc" ? sql`asc` : sql`desc`}
    offset ${page.skip} limit ${page.limit}`;
  return { data: rows.map(toEvent), count: total!.count };
}

/** One event by id. */
export async function getEvent(sql: Sql | Tx, id: string): Promise<HistoryEvent | undefined> {
  const [row] = await sql<EventRow[]>`
    select e.id::text as id, e.table_name as table, e.row_id, e.op, e.label, e.at, e.data,
      e.diff, e.db_user, e.application_name, e.context_id, c.metadata
    from tusk_history.events e left join tusk_history.contexts c on c.id = e.context_id
    where e.id = ${id}`;
  return row && toEvent(row);
}

/** Every tracked table. */
export async function listTracked(sql: Sql | Tx): Promise<TrackedTable[]> {
  return await sql<TrackedTable[]>`select * from tusk_history.tracked order by table_name`;
}

/** The tracked table named `table`, if it is tracked. */
export async function getTracked(sql: Sql | Tx, table: string): Promise<TrackedTable | undefined> {
  const [row] = await sql<TrackedTable[]>`
    select * from tusk_history.tracked where table_name = ${table}`;
  return row;
}

/** Whether any event of `table` is stored (an index probe, not a scan). */
export async function hasEvents(sql: Sql | Tx, table: string): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`
    select exists (select from tusk_history.events where table_name = ${table}) as found`;
  return row!.found;
}

/** The row's current tracked columns (excluded ones removed), locked for update. */
export async function lockTrackedRow(
  tx: Tx,
  table: TrackedTable,
  rowId: string,
): Promise<Record<string, unknown> | undefined> {
  const [row] = await tx<{ data: Record<string, unknown> }[]>`
    select to_jsonb(t) - ${table.excluded}::text[] as data
    from ${tx(table.table_name)} t
    where ${tx(table.pk_column)} = ${rowId}
    for update`;
  return row?.data;
}

/** Sets `columns` of the row to their values in `data` (a row as JSON, typed by the table). */
export async function setColumns(
  tx: Tx,
  table: TrackedTable,
  rowId: string,
  data: Record<string, unknown>,
  columns: string[],
): Promise<number> {
  const result = await tx`
    update ${tx(table.table_name)} t
    set (${tx(columns)}) = (
      select ${tx(columns)} from jsonb_populate_record(null::${tx(table.table_name)}, ${
    tx.json(data as never)
  })
    )
    where t.${tx(table.pk_column)} = ${rowId}`;
  return result.count;
}

/** Inserts a row from `data` (its stored columns; excluded ones get their defaults). */
export async function insertRow(
  tx: Tx,
  table: TrackedTable,
  data: Record<string, unknown>,
): Promise<void> {
  const columns = Object.keys(data);
  await tx`
    insert into ${tx(table.table_name)} (${tx(columns)})
    select ${tx(columns)} from jsonb_populate_record(null::${tx(table.table_name)}, ${
    tx.json(data as never)
  })`;
}

/** Deletes the row; the number deleted. */
export async function deleteRow(tx: Tx, table: TrackedTable, rowId: string): Promise<number> {
  const result = await tx`
    delete from ${tx(table.table_name)} where ${tx(table.pk_column)} = ${rowId}`;
  return result.count;
}

/**
 * Deletes up to `batch` events older than `before`, and records how far (a
 * live stream resuming from below gets a `reset`); the number deleted.
 */
export function deleteEventsBefore(sql: Sql, before: Date, batch: number): Promise<number> {
  return deleteLogBefore(sql, "history", { before, batch });
}

/**
 * Deletes up to `batch` contexts created before `before` that no event points
 * at any more; the number deleted. (A younger context may belong to a
 * transaction still in flight.)
 */
export async function deleteOrphanContexts(
  sql: Sql,
  before: Date,
  batch: number,
): Promise<number> {
  const result = await sql`
    delete from tusk_history.contexts where id in (
      select c.id from tusk_history.contexts c
      where c.created_at < ${before}
        and not exists (select from tusk_history.events e where e.context_id = c.id)
      limit ${batch}
    )`;
  return result.count;
}
