/**
 * The Postgres side of the analytics export: the export lock, and the
 * `COPY ... TO STDOUT` streams of the exported columns (never a password hash).
 *
 * @module
 */
import type { Readable } from "node:stream";
import type { Sql, Tx } from "./client.ts";

// pg_advisory_xact_lock(int, int): one key pair for Tusk's analytics export.
const LOCK_CLASS = 0x7475_736b; // "tusk"
const LOCK_EXPORT = 1;

/** The exported tables, each a CSV stream of these columns in this order. */
export const EXPORT_COLUMNS = {
  users: [
    ["id", "UUID"],
    ["email", "VARCHAR"],
    ["full_name", "VARCHAR"],
    ["is_active", "BOOLEAN"],
    ["is_superuser", "BOOLEAN"],
    ["created_at", "TIMESTAMPTZ"],
  ],
  items: [
    ["id", "UUID"],
    ["title", "VARCHAR"],
    ["description", "VARCHAR"],
    ["owner_id", "UUID"],
    ["created_at", "TIMESTAMPTZ"],
  ],
} as const;

/** A table the export writes. */
export type ExportTable = keyof typeof EXPORT_COLUMNS;

/** Where an export's snapshot starts: see {@link beginExport}. */
export interface ExportStart {
  /** The snapshot's time. */
  at: Date;
  /** The primary's WAL position then: a replica that has replayed it holds everything before. */
  lsn: string;
}

/**
 * Starts the export in its REPEATABLE READ transaction: takes the export lock
 * if it is free and returns the snapshot's time and WAL position (this is the
 * transaction's first statement, so it fixes the snapshot), or null when
 * another export holds the lock. The data is read in another transaction,
 * whose first statement is {@link snapshotSettings}.
 */
export async function beginExport(tx: Tx): Promise<ExportStart | null> {
  const [row] = await tx<{ locked: boolean; at: Date; lsn: string }[]>`
    select pg_try_advisory_xact_lock(${LOCK_CLASS}::int, ${LOCK_EXPORT}::int) as locked,
      statement_timestamp() as at, pg_current_wal_lsn()::text as lsn`;
  return row!.locked ? { at: row!.at, lsn: row!.lsn } : null;
}

/**
 * The first statement of the export's REPEATABLE READ transaction (on the
 * primary or a replica), so it fixes the snapshot; returns the snapshot's
 * time. Lifts the statement timeout (a big table takes as long as it takes;
 * the job has its own expiry) and makes COPY write timestamps in UTC.
 */
export async function snapshotSettings(tx: Tx): Promise<Date> {
  const [row] = await tx<{ at: Date }[]>`
    select statement_timestamp() as at, set_config('statement_timeout', '0', true),
      set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)`;
  return row!.at;
}

/** Whether an export (a job or the CLI) holds the lock in this database now. */
export async function exportRunning(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ running: boolean }[]>`
    select exists (
      select 1 from pg_locks
      where locktype = 'advisory' and granted and objsubid = 2
        and classid = ${LOCK_CLASS}::oid and objid = ${LOCK_EXPORT}::oid
        and database = (select oid from pg_database where datname = current_database())
    ) as running`;
  return row!.running;
}

/** `table`'s exported columns as a CSV stream (no header; NULL unquoted empty, "" quoted). */
export async function copyOut(tx: Tx, table: ExportTable): Promise<Readable> {
  const columns = EXPORT_COLUMNS[table].map(([name]) => name);
  return await tx`copy (select ${tx(columns)} from ${tx(table)}) to stdout (format csv)`
    .readable() as Readable;
}
