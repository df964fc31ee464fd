/**
 * The live event log: history events and app channel messages
 * (`tusk_events.messages`) read together in id order, the tickets that open
 * a stream from a browser, and how far retention has pruned each log.
 *
 * @module
 */
import { type Sql, type Tx, whereAll } from "./client.ts";

/** One entry of the log: a change to a tracked row, or a message on a channel. */
export type LogEntry =
  | {
    id: number;
    kind: "change";
    table: string;
    row_id: string;
    op: "insert" | "update" | "delete";
    data: Record<string, unknown>;
    diff: Record<string, [unknown, unknown]> | null;
    at: Date;
  }
  | { id: number; kind: "message"; channel: string; payload: unknown; at: Date };

interface LogRow {
  id: string;
  table_name: string | null;
  row_id: string | null;
  op: "insert" | "update" | "delete" | null;
  data: Record<string, unknown> | null;
  diff: Record<string, [unknown, unknown]> | null;
  at: Date;
  channel: string | null;
  payload: unknown;
}

function toEntry(row: LogRow): LogEntry {
  const id = Number(row.id);
  if (row.channel !== null) {
    return { id, kind: "message", channel: row.channel, payload: row.payload, at: row.at };
  }
  return {
    id,
    kind: "change",
    table: row.table_name!,
    row_id: row.row_id!,
    op: row.op!,
    data: row.data!,
    diff: row.diff,
    at: row.at,
  };
}

/** What the tail read saw: entries after the mark, and who was appending to the log. */
export interface TailRead {
  entries: LogEntry[];
  /**
   * The transactions appending to the log (holding its writers' lock), read after the
   * snapshot: whoever could still fill a hole the snapshot shows is among them.
   */
  writers: string[];
}

/** The advisory lock every log writer holds (migration 0014): class "tusk", object 2. */
const WRITERS_LOCK = { classid: 0x7475_736b, objid: 2 };

/**
 * Up to `limit` entries with ids above `after`, oldest first, and the
 * virtual transaction ids of the log's writers, read (from `pg_locks`)
 * after the statement's snapshot: from them the reader works out which
 * missing ids are final (see the migration).
 */
export async function readTail(sql: Sql, after: number, limit: number): Promise<TailRead> {
  const rows = await sql<(LogRow & { writers: string[] })[]>`
    with writers as materialized (
      select coalesce(array_agg(virtualtransaction), '{}') as w from pg_locks
      where locktype = 'advisory' and classid = ${WRITERS_LOCK.classid}::oid
        and objid = ${WRITERS_LOCK.objid}::oid and objsubid = 2 and granted
        and database = (select oid from pg_database where datname = current_database())
    )
    select writers.w as writers, e.*
    from writers left join lateral (
      (select id, table_name, row_id, op, data, diff, at, null::text as channel,
              null::jsonb as payload
       from tusk_history.events where id > ${after} order by id limit ${limit})
      union all
      (select id, null, null, null, null, null, at, channel, payload
       from tusk_events.messages where id > ${after} order by id limit ${limit})
      order by id limit ${limit}
    ) e on true`;
  const first = rows[0]!;
  return {
    writers: first.writers,
    entries: rows.filter((r) => r.id !== null).map(toEntry),
  };
}

/** The highest id the log has handed out (committed or not); 0 when none. */
export async function logTop(sql: Sql): Promise<number> {
  const [row] = await sql<{ top: string }[]>`
    select case when is_called then last_value else 0 end as top
    from tusk_history.events_id_seq`;
  return Number(row!.top);
}

/** Who may see rows, as `services/row_access.ts` words the rule, for a query to apply. */
export interface VisibilityRule {
  viewerId: string;
  selfTable: string;
  ownerColumn: string;
}

/** What a replay reads: tables (all, some, or none) and channels, optionally one row. */
export interface ReplayFilter {
  /** `"all"`: every table; `[]`: no table changes at all. */
  tables: string[] | "all";
  channels: string[];
  /** Only changes to this row (channel messages are not filtered by it). */
  rowId?: string;
  /** Undefined for a superuser, who sees every row. */
  visibleTo?: VisibilityRule;
}

function changeConditions(sql: Sql, f: ReplayFilter) {
  const rule = f.visibleTo;
  return [
    f.tables === "all" ? undefined : sql`table_name in ${sql(f.tables)}`,
    f.rowId === undefined ? undefined : sql`row_id = ${f.rowId}`,
    rule === undefined ? undefined : sql`(
      (table_name = ${rule.selfTable} and row_id = ${rule.viewerId})
      or (table_name <> ${rule.selfTable} and (
        data ->> ${rule.ownerColumn} = ${rule.viewerId}
        or diff -> ${rule.ownerColumn} ->> 0 = ${rule.viewerId})))`,
  ];
}

/**
 * Up to `limit` entries in `(after, upTo]` that `filter` selects, oldest
 * first. Every id up to `upTo` must be final (the tail reader's mark), so a
 * page read now is what any later read would see.
 */
export async function readRange(
  sql: Sql,
  range: { after: number; upTo: number; limit: number },
  filter: ReplayFilter,
): Promise<LogEntry[]> {
  const { after, upTo, limit } = range;
  const parts = [];
  if (filter.tables === "all" || filter.tables.length > 0) {
    parts.push(sql`(
      select id, table_name, row_id, op, data, diff, at, null::text as channel,
             null::jsonb as payload
      from tusk_history.events
      ${whereAll(sql, [sql`id > ${after} and id <= ${upTo}`, ...changeConditions(sql, filter)])}
      order by id limit ${limit})`);
  }
  if (filter.channels.length > 0) {
    parts.push(sql`(
      select id, null, null, null, null, null, at, channel, payload from tusk_events.messages
      where id > ${after} and id <= ${upTo} and channel in ${sql(filter.channels)}
      order by id limit ${limit})`);
  }
  if (parts.length === 0) return [];
  const union = parts.slice(1).reduce((all, p) => sql`${all} union all ${p}`, parts[0]!);
  const rows = await sql<LogRow[]>`select * from (${union}) u order by id limit ${limit}`;
  return rows.map(toEntry);
}

/** Publishes `payload` on `channel` (in `sql`'s transaction, if it is one); the message's id. */
export async function insertMessage(sql: Sql | Tx, channel: string, payload: unknown) {
  const [row] = await sql<{ id: string }[]>`
    select tusk_events.publish(${channel}, ${sql.json(payload as never)}) as id`;
  return Number(row!.id);
}

/** How far retention has deleted history events and channel messages (0: never). */
export async function prunedUpTo(sql: Sql): Promise<{ history: number; messages: number }> {
  const rows = await sql<{ log: "history" | "messages"; up_to: string }[]>`
    select log, up_to from tusk_events.pruned`;
  const marks = { history: 0, messages: 0 };
  for (const row of rows) marks[row.log] = Number(row.up_to);
  return marks;
}

/** The two logs retention deletes from, and their tables. */
const LOG_TABLES = { history: "tusk_history.events", messages: "tusk_events.messages" } as const;

/**
 * Deletes up to `batch` entries of `log` older than `before`, and records
 * how far (a stream resuming from below gets a `reset`); the number deleted.
 */
export async function deleteLogBefore(
  sql: Sql,
  log: keyof typeof LOG_TABLES,
  options: { before: Date; batch: number },
): Promise<number> {
  const table = sql(LOG_TABLES[log]);
  const [row] = await sql<{ n: number }[]>`
    with gone as (
      delete from ${table} where id in (
        select id from ${table} where at < ${options.before} order by id limit ${options.batch}
      ) returning id
    ), mark as (
      insert into tusk_events.pruned (log, up_to)
      select ${log}, max(id) from gone having count(*) > 0
      on conflict (log) do update set up_to = greatest(tusk_events.pruned.up_to, excluded.up_to)
    )
    select count(*)::int as n from gone`;
  return row!.n;
}

/** Stores a ticket (its hash) for `userId`, valid until `expiresAt`. */
export async function insertTicket(
  sql: Sql,
  ticket: { hash: Uint8Array; userId: string; tokenVersion: number; expiresAt: Date },
): Promise<void> {
  await sql`
    insert into tusk_events.tickets (hash, user_id, token_version, expires_at)
    values (${ticket.hash}, ${ticket.userId}, ${ticket.tokenVersion}, ${ticket.expiresAt})`;
}

/** Uses up the ticket with this hash: its user and token version, or undefined if none is valid. */
export async function takeTicket(
  sql: Sql,
  hash: Uint8Array,
): Promise<{ user_id: string; token_version: number } | undefined> {
  const [row] = await sql<{ user_id: string; token_version: number; live: boolean }[]>`
    delete from tusk_events.tickets where hash = ${hash}
    returning user_id, token_version, expires_at > now() as live`;
  return row?.live ? { user_id: row.user_id, token_version: row.token_version } : undefined;
}

/** Deletes expired tickets; the number deleted. */
export async function deleteExpiredTickets(sql: Sql): Promise<number> {
  const result = await sql`delete from tusk_events.tickets where expires_at < now()`;
  return result.count;
}

/**
 * Where each of `ids` stands now: gone users are absent. One array
 * parameter, not one parameter per id: a process may hold thousands of streams.
 */
export async function usersStanding(sql: Sql, ids: string[]) {
  return await sql<
    { id: string; is_active: boolean; is_superuser: boolean; token_version: number }[]
  >`
    select id, is_active, is_superuser, token_version from users
    where id = any(${sql.array(ids)}::uuid[])`;
}
