/**
 * Where the analytics files live, and how a finished export replaces the last
 * one in a single atomic step.
 *
 * ```
 * PARQUET_DATA_PATH/
 *   current -> exports/<generation>            swapped by one rename
 *   users_analytics.parquet -> current/users_analytics.parquet
 *   items_analytics.parquet -> current/items_analytics.parquet
 *   manifest.json -> current/manifest.json
 *   exports/<generation>/                      one finished export
 *   exports/.partial-<id>/                     an export being written
 * ```
 *
 * Readers resolve `current` once per query and read both files from that
 * generation, so they never see a mixed pair; the generation before the
 * current one is kept for readers that resolved it just before a swap.
 *
 * @module
 */
import { join } from "node:path";
import type { ExportTable } from "../db/analytics.ts";

/** What `manifest.json` holds. */
export interface Manifest {
  /** When the snapshot the files hold was taken (ISO-8601). */
  exported_at: string;
  finished_at: string;
  duration_seconds: number;
  generation: string;
  tables: Record<ExportTable, { rows: number; bytes: number; file: string }>;
}

/** The Parquet file name of a table (the FastAPI template's names). */
export function parquetName(table: ExportTable): string {
  return `${table}_analytics.parquet`;
}

export const MANIFEST = "manifest.json";
const CURRENT = "current";
const EXPORTS = "exports";
const PARTIAL = ".partial-";
// The current generation and the one before it.
const KEEP = 2;

/** A finished export's files, resolved to their generation's directory. */
export interface Generation {
  dir: string;
  manifest: Manifest;
}

/** The current export, or undefined when none has finished yet. */
export async function currentGeneration(root: string): Promise<Generation | undefined> {
  let dir: string;
  try {
    dir = await Deno.realPath(join(root, CURRENT));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, MANIFEST))) as Manifest;
  return { dir, manifest };
}

/** A fresh directory for an export to write into, beside the finished ones. */
export async function partialDir(root: string): Promise<string> {
  const dir = join(root, EXPORTS, `${PARTIAL}${crypto.randomUUID()}`);
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** Deletes partial directories left by exports that died (call while holding the export lock). */
export async function removeAbandoned(root: string): Promise<void> {
  for (const entry of await list(join(root, EXPORTS))) {
    if (entry.startsWith(PARTIAL)) {
      await Deno.remove(join(root, EXPORTS, entry), { recursive: true });
    }
  }
}

/**
 * Makes a finished partial directory the current generation: renames it, then
 * swaps `current` with one rename, then deletes generations no reader needs.
 */
export async function publish(root: string, partial: string, generation: string): Promise<void> {
  const target = join(root, EXPORTS, generation);
  await Deno.rename(partial, target);
  const link = join(root, `.${CURRENT}-${crypto.randomUUID()}`);
  await Deno.symlink(join(EXPORTS, generation), link);
  await Deno.rename(link, join(root, CURRENT));
  for (const name of [parquetName("users"), parquetName("items"), MANIFEST]) {
    await ensureLink(join(root, name), join(CURRENT, name));
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

async function ensureLink(path: string, target: string) {
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.symlink(target, path);
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}
