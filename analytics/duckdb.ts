/**
 * Opening DuckDB in this process, and quoting for the file paths DuckDB reads.
 * DuckDB is a native addon: it is loaded on first use, never at start, so a
 * process that serves no analytics pays nothing for it and one that cannot
 * load it (e.g. a `deno compile` binary, denoland/deno#29203) runs everything
 * else.
 *
 * @module
 */
import type { DuckDBInstance } from "@duckdb/node-api";
import { outsideAnyContext } from "../lib/root_context.ts";

/** DuckDB settings for one use: threads, memory and where it may spill. */
export interface DuckOptions {
  threads: number;
  memoryLimit: string;
  /** Where DuckDB spills when a query outgrows `memoryLimit`; none: it fails instead. */
  tempDirectory?: string;
}

/** DuckDB's native module could not be loaded in this process; the message says why. */
export class AnalyticsUnavailableError extends Error {
  constructor(cause: unknown) {
    const where = Deno.build.standalone
      ? "this compiled binary (deno compile does not carry the library beside DuckDB's addon, " +
        "denoland/deno#29203)"
      : "this process";
    super(
      `Analytics is not available in ${where}: DuckDB's native module could not be ` +
        `loaded (${cause instanceof Error ? cause.message : String(cause)}). Everything else ` +
        "works; run analytics from `deno task start` / `deno run` or the container image, " +
        "where the module loads from node_modules (see the README's Analytics section)",
    );
    this.name = "AnalyticsUnavailableError";
  }
}

let loaded: Promise<typeof import("@duckdb/node-api")> | undefined;

/**
 * The DuckDB module, loaded once per process, in the root context: Deno gives
 * every later request the context an addon was first loaded in.
 */
function duckdb(): Promise<typeof import("@duckdb/node-api")> {
  loaded ??= outsideAnyContext(() => import("@duckdb/node-api")).catch((error) => {
    loaded = undefined; // a later call may succeed, e.g. once --allow-ffi is granted
    throw new AnalyticsUnavailableError(error);
  });
  return loaded;
}

/** An in-memory DuckDB instance (it reads and writes files; it keeps no database of its own). */
export async function openDuck(options: DuckOptions): Promise<DuckDBInstance> {
  const { DuckDBInstance } = await duckdb();
  // Opened in the root context too: its threads must not hold on to a request's or job's.
  const instance = await outsideAnyContext(() =>
    DuckDBInstance.create(":memory:", {
      threads: String(options.threads),
      memory_limit: options.memoryLimit,
      // Row order means nothing in these files; without it DuckDB writes Parquet in parallel.
      preserve_insertion_order: "false",
      // Nothing is fetched at run time: extensions come with the bindings or not at all.
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "false",
      ...(options.tempDirectory ? { temp_directory: options.tempDirectory } : {}),
    })
  );
  // Dates of TIMESTAMPTZ values are UTC days, whatever the machine's zone.
  const con = await instance.connect();
  try {
    await con.run("set global TimeZone = 'UTC'");
  } catch (error) {
    con.closeSync();
    instance.closeSync();
    throw error;
  }
  con.closeSync();
  return instance;
}

/** A string literal for DuckDB SQL (file paths come from configuration, never from clients). */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
