/**
 * Where the analytics files live, and how a finished export replaces the last
 * one without a reader ever seeing a half-written file or a mixed pair.
 *
 * ```
 * PARQUET_DATA_PATH/
 *   manifest.json                  the current export: names its generation
 *   users_analytics.parquet        the current generation's files, by the template's names
 *   items_analytics.parquet
 *   exports/<generation>/          one finished export: both files and its manifest
 *   exports/.partial-<id>/         an export being written
 * ```
 *
 * Publishing renames the finished directory into `exports/`, then replaces
 * each top-level file with a hard link to the new one (each by one rename),
 * then replaces `manifest.json` by one rename: that is the moment readers
 * switch. Tusk's readers read `manifest.json` once per query and take both
 * files from its generation's directory, so they never mix two exports; the
 * generation before the current one is kept for readers that resolved it just
 * before a swap. (No symlinks: Deno allows them only with unscoped read and
 * write permissions, which the worker's permission set does not have.)
 *
 * @module
 */
import { join } from "node:path";
import type { ExportTable } from "../db/analytics.ts";
import { privateDir } from "../lib/private_files.ts";

/** What `manifest.json` holds. */
export interface Manifest {
  /** When the snapshot the files hold was taken (ISO-8601). */
  exported_at: string;
  finished_at: string;
  duration_seconds: number;
  generation: string;
  tables: Record<ExportTable, {
    rows: number;
    bytes: number;
    file: string;
    /** Time spent streaming the table out of Postgres, then writing its Parquet file. */
    copy_seconds: number;
    parquet_seconds: number;
  }>;
}

/** The Parquet file name of a table (the FastAPI template's names). */
export function parquetName(table: ExportTable): string {
  return `${table}_analytics.parquet`;
}

/** The manifest's file name, at the top level and in each generation. */
export const MANIFEST = "manifest.json";
const EXPORTS = "exports";
const PARTIAL = ".partial-";
const TEMP = ".tmp";
// The current generation and the one before it.
const KEEP = 2;

/** A finished export's files, resolved to their generation's directory. */
export interface Generation {
  dir: string;
  manifest: Manifest;
}

// What generationName() makes; anything else in a manifest is refused rather than followed.
const GENERATION = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

/** The current export, or undefined when none has finished yet. */
export async function currentGeneration(root: string): Promise<Generation | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, MANIFEST));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const manifest = JSON.parse(text) as Manifest;
  if (typeof manifest.generation !== "string" || !GENERATION.test(manifest.generation)) {
    throw new Error(`${join(root, MANIFEST)} names no export generation`);
  }
  return { dir: join(root, EXPORTS, manifest.generation), manifest };
}

/** A fresh directory for an export to write into, beside the finished ones. */
export async function partialDir(root: string): Promise<string> {
  // The exports hold people's emails and names: 0700 all the way down, and 0600 files.
  await privateDir(root);
  await privateDir(join(root, EXPORTS));
  const dir = join(root, EXPORTS, `${PARTIAL}${crypto.randomUUID()}`);
  await privateDir(dir);
  return dir;
}

/** Deletes what exports that died left behind (call while holding the export lock). */
export async function removeAbandoned(root: string): Promise<void> {
  for (const entry of await list(join(root, EXPORTS))) {
    if (entry.startsWith(PARTIAL)) {
      await Deno.remove(join(root, EXPORTS, entry), { recursive: true });
    }
  }
  for (const entry of await list(root)) {
    if (entry.endsWith(TEMP)) await Deno.remove(join(root, entry));
  }
}

/**
 * Makes a finished partial directory the current generation: renames it into
 * `exports/`, replaces the top-level files and then `manifest.json` (each by
 * one rename), then deletes generations no reader needs.
 */
export async function publish(root: string, partial: string, generation: string): Promise<void> {
  const target = join(root, EXPORTS, generation);
  await Deno.rename(partial, target);
  for (const name of [parquetName("items"), parquetName("users"), MANIFEST]) {
    await replaceWith(join(target, name), join(root, name));
  }
  const finished = (await list(join(root, EXPORTS))).filter((e) => !e.startsWith(PARTIAL)).sort();
  for (const old of finished.slice(0, -KEEP)) {
    await Deno.remove(join(root, EXPORTS, old), { recursive: true });
  }
}

/** A generation name that sorts by time: `20261125T030000123Z-ab12cd34`. */
export function generationName(at: Date): string {
  return `${at.toISOString().replace(/[-:.]/g, "")}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Puts `source` at `path` in one rename: a hard link where the file system has them, else a copy. */
async function replaceWith(source: string, path: string) {
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}${TEMP}`;
  try {
    await Deno.link(source, temp);
  } catch {
    await Deno.copyFile(source, temp);
  }
  await Deno.rename(temp, path);
}

async function list(dir: string): Promise<string[]> {
  try {
    return await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}
