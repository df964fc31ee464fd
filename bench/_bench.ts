/**
 * What the benchmarks share: statistics, and a throwaway database on the
 * server in DATABASE_URL (the environment or `.env`) or on the benchmarks'
 * own embedded Postgres (`.data/bench-postgres`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createSql, databaseUrl } from "../db/client.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../db/embedded/mod.ts";
import { processEnv } from "../lib/dotenv.ts";

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
  const env = await processEnv();
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

/** Every benchmark's options, so `deno task bench` can hand its arguments to each. */
const OPTIONS = {
  runs: { type: "string" },
  jobs: { type: "string" },
  depth: { type: "string" },
  latency: { type: "string" },
  writes: { type: "string" },
  events: { type: "string" },
  queries: { type: "string" },
  seconds: { type: "string" },
  clients: { type: "string" },
  items: { type: "string" },
  write: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const USAGE = `Usage: deno task bench[:jobs|:history|:tracing|:analytics|:http] [options]

  deno task bench            jobs, audit history, tracing and analytics in turn
  Every benchmark:           --runs N
  bench:jobs                 --jobs N, --depth N, --latency N
  bench:history              --writes N, --events N, --queries N
  bench:tracing              --seconds N, --clients N
  bench:analytics            --items N, --queries N
  bench:http                 --seconds N, --clients N, --write (update BENCHMARKS.md and the chart)

DATABASE_URL names the server to use; without it each starts its own embedded Postgres.
Method and figures: BENCHMARKS.md.`;

type NumberOption = Exclude<keyof typeof OPTIONS, "write" | "help">;

/**
 * The command line's options, as numbers (`--write`: true when given). A `--` (as in
 * `deno task bench -- --runs 3`) is skipped; `--help` prints the usage and exits 0; an
 * unknown option or a value that is not a positive number exits 2 with the usage.
 */
export function benchArgs(): Partial<Record<NumberOption, number>> & { write?: boolean } {
  try {
    const { values } = parseArgs({
      args: Deno.args.filter((a) => a !== "--"),
      options: OPTIONS,
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    return Object.fromEntries(
      Object.entries(values).map(([key, raw]) => {
        if (typeof raw === "boolean") return [key, raw];
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 1) {
          throw new Error(`--${key} takes a whole number, not ${raw}`);
        }
        return [key, n];
      }),
    );
  } catch (error) {
    console.error(`deno task bench: ${(error as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
}
