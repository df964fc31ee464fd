/**
 * Analytics without a shared disk: a finished export is also published into
 * Postgres (`db/analytics_generations.ts`), and every reader resolves the
 * current generation there. Its files are read where they already are (the
 * export's own directory, when the reader shares it: the fast path), else
 * from a local cache that is filled from Postgres on first use and holds the
 * current generation and the one before it.
 *
 * @module
 */
import { join } from "node:path";
import {
  currentStoredGeneration,
  GENERATIONS_CHANNEL,
  storedChunks,
  storeGeneration,
} from "../db/analytics_generations.ts";
import { type Listening, listenReliably } from "../db/listen.ts";
import type { Sql } from "../db/client.ts";
import { makePrivate, PRIVATE_FILE_MODE, privateDir } from "../lib/private_files.ts";
import {
  currentGeneration,
  type Generation,
  MANIFEST,
  type Manifest,
  parquetName,
} from "./files.ts";

const TABLES = ["users", "items"] as const;
const PARTIAL = ".partial-";
// The current generation and the one before it (a reader may have resolved it just before a switch).
const KEEP = 2;

/** Publishes the export `manifest` names (its files under `root`) into Postgres. */
export async function publishToDatabase(sql: Sql, root: string, manifest: Manifest): Promise<void> {
  const dir = join(root, "exports", manifest.generation);
  const files = await Promise.all(
    TABLES.map(async (table) => ({
      name: parquetName(table),
      bytes: await Deno.readFile(join(dir, parquetName(table))),
    })),
  );
  await storeGeneration(
    sql,
    { generation: manifest.generation, manifest: manifest as unknown as Record<string, unknown> },
    files,
  );
}

/** The current generation's manifest: Postgres's, else (before the first publication) the disk's. */
export async function currentManifest(sql: Sql, dir: string): Promise<Manifest | undefined> {
  const stored = await currentStoredGeneration(sql);
  if (stored !== undefined) return stored.manifest as unknown as Manifest;
  return (await currentGeneration(dir))?.manifest;
}

/** Resolves the current generation to local files; see the module's notes. */
export interface GenerationResolver {
  current(): Promise<Generation | undefined>;
  /** Stops listening for new generations. */
  close(): Promise<void>;
}

/**
 * Reads the current generation from Postgres and finds its files: in `dir`
 * (`PARQUET_DATA_PATH`) when they are there, else in `cacheDir`, fetching
 * them once per generation. Before anything is published in Postgres (an
 * export older than it), the files in `dir`. Once it has been asked, it
 * listens for publications and fetches each new generation as it appears,
 * so the next report does not wait for it.
 */
export function generationResolver(
  sql: Sql,
  options: { dir: string; cacheDir: string },
): GenerationResolver {
  const fetching = new Map<string, Promise<string>>();
  let listening: Promise<Listening | undefined> | undefined;

  async function complete(dir: string, manifest: Manifest): Promise<boolean> {
    for (const table of TABLES) {
      try {
        const size = (await Deno.stat(join(dir, parquetName(table)))).size;
        if (size !== manifest.tables[table].bytes) return false;
      } catch {
        return false;
      }
    }
    return true;
  }

  async function download(generation: string, manifest: Manifest): Promise<string> {
    const target = join(options.cacheDir, generation);
    if (await complete(target, manifest)) return target;
    await privateDir(options.cacheDir);
    const partial = join(options.cacheDir, `${PARTIAL}${crypto.randomUUID()}`);
    await privateDir(partial);
    try {
      for (const table of TABLES) {
        const path = join(partial, parquetName(table));
        const file = await Deno.open(path, {
          write: true,
          createNew: true,
          mode: PRIVATE_FILE_MODE,
        });
        try {
          for await (const chunk of storedChunks(sql, generation, parquetName(table))) {
            for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
          }
        } finally {
          file.close();
        }
      }
      await Deno.writeTextFile(join(partial, MANIFEST), JSON.stringify(manifest, null, 2) + "\n", {
        mode: PRIVATE_FILE_MODE,
      });
      // A generation deleted while it was read leaves short files: not published as complete.
      if (!(await complete(partial, manifest))) throw new GenerationGone(generation);
      await Deno.rename(partial, target).catch(async (error) => {
        // Another reader in this process's cache got there first.
        if (!(await complete(target, manifest))) throw error;
      });
      for (const file of TABLES.map(parquetName)) await makePrivate(join(target, file));
    } finally {
      await Deno.remove(partial, { recursive: true }).catch(() => {});
    }
    await prune(options.cacheDir);
    return target;
  }

  async function current(): Promise<Generation | undefined> {
    // From the first report on, new generations are fetched when published.
    listening ??= listenReliably(sql, GENERATIONS_CHANNEL, {
      onNotify: () => void current().catch(() => {}),
      onReconnect: () => void current().catch(() => {}),
      // Behind a pooler without a direct URL: the next report fetches it.
      onPoll: () => {},
    }).catch(() => undefined);
    await listening;
    return await resolve();
  }

  return {
    current,
    async close() {
      await (await listening)?.stop();
    },
  };

  async function resolve(): Promise<Generation | undefined> {
    for (let attempt = 1;; attempt++) {
      const stored = await currentStoredGeneration(sql);
      if (stored === undefined) return await currentGeneration(options.dir);
      const manifest = stored.manifest as unknown as Manifest;
      const local = join(options.dir, "exports", stored.generation);
      if (await complete(local, manifest)) return { dir: local, manifest };
      let pending = fetching.get(stored.generation);
      if (pending === undefined) {
        pending = download(stored.generation, manifest).finally(() =>
          fetching.delete(stored.generation)
        );
        fetching.set(stored.generation, pending);
      }
      try {
        return { dir: await pending, manifest };
      } catch (error) {
        // Replaced twice while it was fetched: once more, on the newest.
        if (error instanceof GenerationGone && attempt < 3) continue;
        throw error;
      }
    }
  }
}

/** The generation was deleted (by two newer publications) while it was being fetched. */
class GenerationGone extends Error {
  constructor(generation: string) {
    super(`analytics generation ${generation} was replaced while it was fetched`);
  }
}

/** Keeps the two newest generations in the cache (names sort by time). */
async function prune(cacheDir: string): Promise<void> {
  const names = (await Array.fromAsync(Deno.readDir(cacheDir), (e) => e.name))
    .filter((n) => !n.startsWith(PARTIAL)).sort();
  for (const old of names.slice(0, -KEEP)) {
    await Deno.remove(join(cacheDir, old), { recursive: true }).catch(() => {});
  }
}
