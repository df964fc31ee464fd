/**
 * What the benchmarks share: statistics, and a throwaway database on the
 * server in DATABASE_URL (the environment or `.env`) or on the benchmarks'
 * own embedded Postgres (`.data/bench-postgres`).
 *
 * @module
 */
import { createSql, databaseUrl } from "../db/client.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../db/embedded.ts";
import { withDotEnv } from "../lib/dotenv.ts";

/** The middle value. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The `p`th percentile (nearest rank). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** A fresh database for one benchmark; `await using` drops it and stops the server. */
export interface BenchDatabase extends AsyncDisposable {
  url: string;
}

/** Creates an empty database named `tusk_bench_<prefix>_...`. */
export async function benchDatabase(prefix: string): Promise<BenchDatabase> {
  const env = await withDotEnv(Deno.env.get("TUSK_ENV_FILE") ?? ".env", Deno.env.toObject());
  let embedded: EmbeddedPostgres | undefined;
  let adminUrl = env.DATABASE_URL;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres({ dir: ".data/bench-postgres", port: 54350 });
    adminUrl = embedded.adminUrl;
  }
  const name = `tusk_bench_${prefix}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = createSql(adminUrl, { role: "cli", poolSize: 1 });
  await admin.unsafe(`create database ${name}`);
  return {
    url: databaseUrl(adminUrl, name),
    async [Symbol.asyncDispose]() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      await embedded?.stop();
    },
  };
}
