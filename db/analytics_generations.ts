/**
 * Analytics generations published in Postgres (`tusk_analytics`): each
 * export's manifest and its Parquet files in chunks, so any process on any
 * machine reads the generation the workers wrote.
 *
 * @module
 */
import type { Sql } from "./client.ts";

/** The channel a publication notifies, with the generation as payload. */
export const GENERATIONS_CHANNEL = "tusk_analytics";
// Bytes per stored chunk: well under Postgres's 1 GB value limit, and a round trip's worth.
const CHUNK_BYTES = 1024 * 1024;
// The current generation and the one before it, as on disk.
const KEEP = 2;

/** A published generation: its name and manifest (as the export wrote it). */
export interface StoredGeneration {
  generation: string;
  manifest: Record<string, unknown>;
}

/**
 * Publishes a generation in one transaction: its manifest and files, then
 * deletes all but the two newest generations, and notifies
 * {@link GENERATIONS_CHANNEL}.
 */
export async function storeGeneration(
  sql: Sql,
  generation: StoredGeneration,
  files: { name: string; bytes: Uint8Array }[],
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`
      insert into tusk_analytics.generations (generation, manifest)
      values (${generation.generation}, ${tx.json(generation.manifest as never)})`;
    for (const file of files) {
      for (let seq = 0; seq * CHUNK_BYTES < Math.max(file.bytes.length, 1); seq++) {
        const data = file.bytes.subarray(seq * CHUNK_BYTES, (seq + 1) * CHUNK_BYTES);
        await tx`
          insert into tusk_analytics.chunks (generation, file, seq, data)
          values (${generation.generation}, ${file.name}, ${seq}, ${data})`;
      }
    }
    await tx`
      delete from tusk_analytics.generations where generation not in (
        select generation from tusk_analytics.generations order by generation desc limit ${KEEP})`;
    await tx`select pg_notify(${GENERATIONS_CHANNEL}, ${generation.generation})`;
  });
}

/** The newest published generation, or undefined before the first. */
export async function currentStoredGeneration(sql: Sql): Promise<StoredGeneration | undefined> {
  const [row] = await sql<StoredGeneration[]>`
    select generation, manifest from tusk_analytics.generations
    order by generation desc limit 1`;
  return row;
}

/**
 * A stored file's chunks, in order, one query each (so a large file is never
 * held whole); ends early if the generation is deleted meanwhile.
 */
export async function* storedChunks(
  sql: Sql,
  generation: string,
  file: string,
): AsyncGenerator<Uint8Array> {
  for (let seq = 0;; seq++) {
    const [row] = await sql<{ data: Uint8Array }[]>`
      select data from tusk_analytics.chunks
      where generation = ${generation} and file = ${file} and seq = ${seq}`;
    if (row === undefined) return;
    yield row.data;
  }
}
