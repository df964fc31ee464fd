/**
 * The analytics export: `users` and `items` from one REPEATABLE READ snapshot
 * (on a caught-up streaming replica when there is one), streamed out of
 * Postgres with `COPY ... TO STDOUT (FORMAT csv)` into a scratch file, turned
 * into Parquet by DuckDB, then published atomically.
 * JavaScript only ever holds one 1 MiB buffer of a table; DuckDB works in
 * bounded memory and spills to the scratch directory.
 *
 * @module
 */
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { Config } from "../config.ts";
import type { ClientOptions, Role, Sql, Tx } from "../db/client.ts";
import { clientOptions } from "../db/open.ts";
import {
  beginExport,
  copyOut,
  EXPORT_COLUMNS,
  type ExportStart,
  type ExportTable,
  snapshotSettings,
} from "../db/analytics.ts";
import { caughtUpReplica } from "../db/replicas.ts";
import type { Logger } from "../lib/logging.ts";
import { makePrivate, PRIVATE_FILE_MODE } from "../lib/private_files.ts";
import { inSpan } from "../lib/telemetry.ts";
import { literal, openDuck } from "./duckdb.ts";
import { publishToDatabase } from "./published.ts";
import {
  currentGeneration,
  generationName,
  MANIFEST,
  type Manifest,
  parquetName,
  partialDir,
  publish,
  removeAbandoned,
} from "./files.ts";

/** Options for {@link exportAnalytics}. */
export interface ExportOptions {
  /** `PARQUET_DATA_PATH`. */
  dir: string;
  log: Logger;
  /** Stops the export (it then publishes nothing). */
  signal?: AbortSignal;
  /** Called once when another export holds the lock and this one starts waiting. */
  onWait?: () => void;
  /**
   * Streaming replicas (`DATABASE_REPLICA_URL`): the snapshot is read on the
   * first that replays the primary's WAL position at the lock within
   * `maxLagSeconds`, so the COPY does not load the primary; otherwise, or if
   * it fails part-way, on the primary (with a warning).
   */
  replicas?: { urls: string[]; maxLagSeconds: number; client: ClientOptions };
}

const TABLES: ExportTable[] = ["users", "items"];
// How often a waiting export tries the lock again.
const LOCK_RETRY_MS = 500;
const WRITE_BUFFER = 1 << 20;
// DuckDB's buffers, measured with 1,000,000 items (bench:analytics): this limit, 61,440-row
// groups (half DuckDB's default) and 8 MiB CSV buffers (default 32) keep the process's peak
// RSS near 200 MB instead of 330-400 MB, at no cost in speed. DuckDB spills to the scratch
// directory rather than grow past the limit.
const DUCK_MEMORY = "128MB";
const ROW_GROUP_ROWS = 61_440;
const CSV_BUFFER_BYTES = 8 << 20;

/** Nothing lost: another export held the lock; try again. */
class LockBusy extends Error {}

/** The `replicas` option from the configuration; undefined without `DATABASE_REPLICA_URL`. */
export function exportReplicas(config: Config, role: Role): ExportOptions["replicas"] {
  if (config.replicaUrls.length === 0) return undefined;
  return {
    urls: config.replicaUrls,
    maxLagSeconds: config.replicaMaxLagSeconds,
    client: clientOptions(config, role),
  };
}

/** What {@link exportAnalytics} did. */
export interface ExportResult {
  manifest: Manifest;
  /**
   * True when another export (a job, the CLI) was already running when this
   * one was asked for: this one waited for it and returns its result instead
   * of exporting again, so triggers at the same time run one export.
   */
  joined: boolean;
  /** Seconds spent publishing the files into Postgres (after the export's own time). */
  publishSeconds?: number;
  /** host:port of the replica the snapshot was read on; unset: the primary. */
  replica?: string;
}

/**
 * Exports both tables and publishes them as the current generation. If
 * another export is running in this database, waits for it and returns what
 * it published (or, if it failed, exports after all).
 */
export async function exportAnalytics(sql: Sql, options: ExportOptions): Promise<ExportResult> {
  const { dir, log, signal } = options;
  return await inSpan("analytics.export", {}, async (span) => {
    // The generation that was current when this export first found the lock taken.
    let before: string | null | undefined;
    for (;;) {
      signal?.throwIfAborted();
      try {
        // The lock's transaction reads no data: it holds the lock, not a snapshot, so it does
        // not hold back vacuum while the export runs.
        const result = await sql.begin(
          "read only",
          (lock) => exportLocked(sql, lock, options, before),
        );
        // Then in Postgres too, for readers that do not share this directory.
        if (!result.joined) {
          const publishing = performance.now();
          await publishToDatabase(sql, dir, result.manifest);
          result.publishSeconds = seconds(performance.now() - publishing);
        }
        span.setAttributes({
          "tusk.analytics.joined": result.joined,
          "tusk.analytics.users.rows": result.manifest.tables.users.rows,
          "tusk.analytics.items.rows": result.manifest.tables.items.rows,
        });
        return result;
      } catch (error) {
        if (!(error instanceof LockBusy)) throw error;
        if (before === undefined) {
          before = (await readCurrent(dir))?.manifest.generation ?? null;
          options.onWait?.();
          log.info("another analytics export is running; waiting for it to finish");
        }
        await sleep(LOCK_RETRY_MS, signal);
      }
    }
  });
}

/** Takes the lock, then exports from a replica's snapshot or the primary's. */
async function exportLocked(
  sql: Sql,
  lock: Tx,
  options: ExportOptions,
  before: string | null | undefined,
): Promise<ExportResult> {
  const start = await beginExport(lock);
  if (start === null) throw new LockBusy();
  if (before !== undefined) {
    const now = await readCurrent(options.dir);
    if (now !== undefined && now.manifest.generation !== before) {
      return { manifest: now.manifest, joined: true };
    }
  }
  if (options.replicas !== undefined) {
    const result = await exportOnReplica(start, options.replicas, options);
    if (result !== undefined) return result;
  }
  return await sql.begin(
    "isolation level repeatable read read only",
    async (tx) => exportInSnapshot(tx, await snapshotSettings(tx), options),
  );
}

/** The export from a replica that has caught up with `start`; undefined: use the primary. */
async function exportOnReplica(
  start: ExportStart,
  replicas: NonNullable<ExportOptions["replicas"]>,
  options: ExportOptions,
): Promise<ExportResult | undefined> {
  const problems: string[] = [];
  const replica = await caughtUpReplica(replicas.urls, start.lsn, {
    waitSeconds: replicas.maxLagSeconds,
    client: replicas.client,
    problems,
  });
  if (replica === undefined) {
    options.log.warn("analytics export reads the primary: no replica has caught up", { problems });
    return undefined;
  }
  try {
    const result = await replica.sql.begin(
      "isolation level repeatable read read only",
      async (tx) => {
        await snapshotSettings(tx);
        // The replica holds at least what the primary had at the lock: that is the snapshot's time.
        return await exportInSnapshot(tx, start.at, options);
      },
    );
    return { ...result, replica: replica.host };
  } catch (error) {
    if (options.signal?.aborted) throw error;
    options.log.warn("analytics export on the replica failed; exporting from the primary", {
      replica: replica.host,
      error: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  } finally {
    await replica.sql.end({ timeout: 5 });
  }
}

async function exportInSnapshot(
  tx: Tx,
  snapshotAt: Date,
  options: ExportOptions,
): Promise<ExportResult> {
  const { dir: root, log, signal } = options;
  const started = performance.now();
  await removeAbandoned(root);
  const partial = await partialDir(root);
  let duck: DuckDBInstance | undefined;
  let con: DuckDBConnection | undefined;
  try {
    duck = await openDuck({ threads: 2, memoryLimit: DUCK_MEMORY, tempDirectory: partial });
    con = await duck.connect();
    const tables = {} as Manifest["tables"];
    for (const table of TABLES) {
      signal?.throwIfAborted();
      tables[table] = await exportTable(tx, con, partial, table, signal);
    }
    const generation = generationName(snapshotAt);
    const manifest: Manifest = {
      exported_at: snapshotAt.toISOString(),
      finished_at: new Date().toISOString(),
      duration_seconds: seconds(performance.now() - started),
      generation,
      tables,
    };
    await Deno.writeTextFile(join(partial, MANIFEST), JSON.stringify(manifest, null, 2) + "\n", {
      mode: PRIVATE_FILE_MODE,
    });
    signal?.throwIfAborted();
    await publish(root, partial, generation);
    log.info("analytics exported", {
      users: tables.users.rows,
      items: tables.items.rows,
      bytes: tables.users.bytes + tables.items.bytes,
      seconds: manifest.duration_seconds,
    });
    return { manifest, joined: false };
  } catch (error) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw error;
  } finally {
    con?.closeSync();
    duck?.closeSync();
  }
}

/** One table: COPY out of Postgres into a scratch CSV file, then DuckDB writes its Parquet file. */
async function exportTable(
  tx: Tx,
  con: DuckDBConnection,
  partial: string,
  table: ExportTable,
  signal: AbortSignal | undefined,
): Promise<Manifest["tables"][ExportTable]> {
  const csv = join(partial, `${table}.csv`);
  const file = parquetName(table);
  const copyStarted = performance.now();
  await inSpan(`analytics.copy ${table}`, {}, async () => {
    await writeAll(await copyOut(tx, table), csv, signal);
  });
  const parquetStarted = performance.now();
  const rows = await inSpan(`analytics.parquet ${table}`, {}, async () => {
    const result = await con.run(
      `copy (select * from read_csv(${literal(csv)}, ${csvOptions(table)}))
       to ${literal(join(partial, file))}
       (format parquet, compression zstd, row_group_size ${ROW_GROUP_ROWS})`,
    );
    return result.rowsChanged;
  });
  // DuckDB creates its files with the umask's mode.
  await makePrivate(join(partial, file));
  await Deno.remove(csv);
  return {
    rows,
    bytes: (await Deno.stat(join(partial, file))).size,
    file,
    copy_seconds: seconds(parquetStarted - copyStarted),
    parquet_seconds: seconds(performance.now() - parquetStarted),
  };
}

/** Milliseconds as seconds, to the millisecond. */
function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** The current generation; an unreadable one counts as none (this export will replace it). */
async function readCurrent(root: string) {
  try {
    return await currentGeneration(root);
  } catch {
    return undefined;
  }
}

/** read_csv's options for one table's COPY output: no sniffing, exact types, "" is not NULL. */
function csvOptions(table: ExportTable): string {
  const columns = EXPORT_COLUMNS[table].map(([name, type]) => `${literal(name)}: '${type}'`);
  return `header = false, auto_detect = false, allow_quoted_nulls = false, ` +
    `buffer_size = ${CSV_BUFFER_BYTES}, ` +
    `columns = {${columns.join(", ")}}`;
}

/**
 * Streams `source` into a new file at `path` in 1 MiB writes. COPY sends a
 * chunk per row, so chunks are gathered from `data` events (an async iterator
 * would cost a promise per row) and the stream is paused while a write runs.
 */
async function writeAll(source: Readable, path: string, signal?: AbortSignal): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true, mode: PRIVATE_FILE_MODE });
  try {
    await new Promise<void>((resolve, reject) => {
      let buffer = new Uint8Array(WRITE_BUFFER);
      let used = 0;
      let writes = Promise.resolve();
      let failed = false;
      const fail = (error: unknown) => {
        if (failed) return;
        failed = true;
        signal?.removeEventListener("abort", abort);
        source.destroy();
        reject(error);
      };
      const abort = () => fail(signal!.reason);
      const write = (bytes: Uint8Array) => {
        source.pause();
        writes = writes.then(() => writeFully(file, bytes)).then(() => {
          source.resume();
        }, fail);
      };
      signal?.addEventListener("abort", abort, { once: true });
      source.on("data", (chunk: Uint8Array) => {
        if (used + chunk.length > buffer.length) {
          write(buffer.subarray(0, used));
          buffer = new Uint8Array(WRITE_BUFFER);
          used = 0;
        }
        if (chunk.length > buffer.length) return write(chunk);
        buffer.set(chunk, used);
        used += chunk.length;
      });
      source.on("error", fail);
      source.on("end", () => {
        write(buffer.subarray(0, used));
        writes.then(() => {
          signal?.removeEventListener("abort", abort);
          if (!failed) resolve();
        }, fail);
      });
    });
  } finally {
    file.close();
  }
}

async function writeFully(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await file.write(bytes.subarray(offset));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", stop);
      resolve();
    }
    function stop() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", stop, { once: true });
  });
}
