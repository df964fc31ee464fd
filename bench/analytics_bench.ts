/**
 * Analytics export and report speed, in one run on one database:
 *
 * - COPY alone: the export's two `COPY ... TO STDOUT (FORMAT csv)`
 *   statements in one REPEATABLE READ transaction, drained by postgres.js
 *   and thrown away: the Postgres side's floor;
 * - the export end to end, in a process of its own (as the CLI runs it):
 *   rows per second, the COPY and Parquet shares, and the process's peak RSS;
 * - p50/p90 of `GET /analytics/items_by_user`, `/active_users` and
 *   `/items_per_day` over the exported files, through the app in process.
 *
 * Data: `--items` items (default 1,000,000) owned by 10,000 users, made with
 * `generate_series` in the benchmark's own database.
 *
 * Usage: deno task bench:analytics [--items 1000000] [--runs 3] [--queries 50]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 *
 * @module
 */
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { copyOut } from "../db/analytics.ts";
import { createSql, type Sql } from "../db/client.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { benchApp } from "./_app.ts";
import { benchArgs, benchDatabase, benchServers, median, percentile } from "./_bench.ts";

const args = benchArgs();
const ITEMS = args.items ?? 1_000_000;
const RUNS = args.runs ?? 3;
const QUERIES = args.queries ?? 50;
const USERS = 10_000;
const CHILD = fileURLToPath(new URL("./_analytics_export.ts", import.meta.url));

async function fill(sql: Sql) {
  // Bulk data, not writes under test: no audit history for these rows.
  await sql`alter table items disable trigger user`;
  await sql`alter table users disable trigger user`;
  await sql`insert into users (email, hashed_password, full_name, created_at)
    select 'user' || g || '@example.com', 'not-a-hash', 'User ' || g,
      now() - (g % 365) * interval '1 day'
    from generate_series(1, ${USERS}) g`;
  await sql`insert into items (title, description, owner_id, created_at)
    select 'Item ' || g, case when g % 4 = 0 then null else 'About item ' || g end,
      owners.ids[1 + (g::bigint * 7919) % ${USERS}], now() - (g % 365) * interval '1 day'
              - (g % 86400) * interval '1 second'
    from generate_series(1, ${ITEMS}) g, (select array_agg(id) as ids from users) owners`;
  await sql`alter table items enable trigger user`;
  await sql`alter table users enable trigger user`;
  // As autovacuum would: hint bits set, so no run pays for them.
  await sql.unsafe("vacuum (freeze, analyze) users, items");
}

/** Drains a COPY stream, counting its bytes. */
function drain(stream: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    stream.on("data", (chunk: Uint8Array) => {
      bytes += chunk.length;
    });
    stream.on("end", () => resolve(bytes));
    stream.on("error", reject);
  });
}

/** The export's COPY statements alone; seconds. */
async function copyAlone(sql: Sql): Promise<number> {
  const started = performance.now();
  await sql.begin("isolation level repeatable read read only", async (tx) => {
    await drain(await copyOut(tx, "users"));
    await drain(await copyOut(tx, "items"));
  });
  return (performance.now() - started) / 1000;
}

interface ExportRun {
  seconds: number;
  rows: number;
  copySeconds: number;
  parquetSeconds: number;
  peakRss: number;
  bytes: number;
  publishSeconds: number;
}

async function exportOnce(url: string, dir: string): Promise<ExportRun> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, url, dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`export failed: ${new TextDecoder().decode(stderr)}`);
  const { manifest, publish_seconds, peak_rss_bytes } = JSON.parse(
    new TextDecoder().decode(stdout),
  );
  const t = manifest.tables;
  return {
    seconds: manifest.duration_seconds,
    rows: t.users.rows + t.items.rows,
    copySeconds: t.users.copy_seconds + t.items.copy_seconds,
    parquetSeconds: t.users.parquet_seconds + t.items.parquet_seconds,
    peakRss: peak_rss_bytes,
    bytes: t.users.bytes + t.items.bytes,
    publishSeconds: publish_seconds,
  };
}

/**
 * A process that does not share the export's directory: its first report
 * fetches the generation from Postgres into its cache, the next reads the cache.
 */
async function elsewhere(sql: Sql): Promise<{ first: number; next: number }> {
  const data = await Deno.makeTempDir({ prefix: "tusk-bench-elsewhere-" });
  const { app, auth, close } = await benchApp(sql, {
    env: { PARQUET_DATA_PATH: `${data}/parquet`, TUSK_DATA_DIR: data },
    superuser: true,
  });
  try {
    const time = async () => {
      const started = performance.now();
      const res = await app.request("/api/v1/analytics/items_by_user", {
        headers: { Authorization: auth },
      });
      if (res.status !== 200) throw new Error(`elsewhere: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      return performance.now() - started;
    };
    return { first: await time(), next: await time() };
  } finally {
    await close();
    await Deno.remove(data, { recursive: true });
  }
}

async function endpoints(sql: Sql, dir: string) {
  const { app, auth, close } = await benchApp(sql, {
    env: { PARQUET_DATA_PATH: dir },
    superuser: true,
  });
  try {
    const headers = { Authorization: auth };
    const result: Record<string, { p50: number; p90: number }> = {};
    for (const path of ["items_by_user", "active_users", "items_per_day?days=30"]) {
      const times: number[] = [];
      for (let i = 0; i < QUERIES + 3; i++) {
        const started = performance.now();
        const res = await app.request(`/api/v1/analytics/${path}`, { headers });
        if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        if (i >= 3) times.push(performance.now() - started); // three warm-ups dropped
      }
      result[path] = { p50: median(times), p90: percentile(times, 90) };
    }
    return result;
  } finally {
    await close();
  }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Runs the benchmark and prints its table. */
export async function main() {
  for (const pg of benchServers(args)) await measure(pg);
}

/** One run of the benchmark on one server (`pg`: an embedded version, see `--pg`). */
async function measure(pg?: string) {
  await using db = await benchDatabase("analytics", pg);
  // Filling a million rows takes longer than the pool's default statement timeout.
  const sql = createSql(db.url, { role: "cli", poolSize: 2, statementTimeoutMs: 0 });
  const dir = await Deno.makeTempDir({ prefix: "tusk-bench-analytics-" });
  try {
    await migrateUp(sql, await loadMigrations());
    console.log(`analytics: filling ${fmt(ITEMS)} items and ${fmt(USERS)} users ...`);
    await fill(sql);
    const copies: number[] = [];
    const exports: ExportRun[] = [];
    // One warm-up pair (page cache, DuckDB's first load), then the measured runs, alternating.
    for (let run = 0; run <= RUNS; run++) {
      const copy = await copyAlone(sql);
      const done = await exportOnce(db.url, dir);
      if (run === 0) continue;
      copies.push(copy);
      exports.push(done);
      console.log(
        `analytics run ${run}: COPY alone ${copy.toFixed(2)} s; export ${
          done.seconds.toFixed(2)
        } s ` +
          `(COPY ${done.copySeconds.toFixed(2)} s, Parquet ${done.parquetSeconds.toFixed(2)} s), ` +
          `peak RSS ${fmt(done.peakRss / 1e6)} MB`,
      );
    }
    const rows = exports[0]!.rows;
    const copy = median(copies);
    const exportSeconds = median(exports.map((e) => e.seconds));
    const reports = await endpoints(sql, dir);
    const away = await elsewhere(sql);
    const lines = [
      `| measure (${new Date().toISOString().slice(0, 10)}, ${fmt(rows)} rows) | median | goal |`,
      "| --- | --- | --- |",
      `| COPY alone (both tables, csv) | ${copy.toFixed(2)} s = ${
        fmt(rows / copy)
      } rows/s | baseline |`,
      `| export end to end | ${exportSeconds.toFixed(2)} s = **${
        fmt(rows / exportSeconds)
      } rows/s** | >= 1,000,000 rows/s |`,
      `| ratio export / COPY alone (rows/s; median of the runs' ratios) | **${
        median(exports.map((e, i) => copies[i]! / e.seconds)).toFixed(2)
      }** | |`,
      `| of which COPY into the scratch file | ${
        median(exports.map((e) => e.copySeconds)).toFixed(2)
      } s | |`,
      `| of which DuckDB CSV -> Parquet | ${
        median(exports.map((e) => e.parquetSeconds)).toFixed(2)
      } s | |`,
      `| then publishing the files into Postgres (extra, per export) | ${
        median(exports.map((e) => e.publishSeconds)).toFixed(2)
      } s | |`,
      `| first report in a process without the files (fetch + query) / the next | ${
        away.first.toFixed(0)
      } ms / ${away.next.toFixed(0)} ms | |`,
      `| export process peak RSS | **${
        fmt(median(exports.map((e) => e.peakRss)) / 1e6)
      } MB** | < 300 MB |`,
      `| Parquet written | ${fmt(exports[0]!.bytes / 1e6, 1)} MB | |`,
      ...Object.entries(reports).map(([path, t]) =>
        `| GET /analytics/${path} | p50 ${t.p50.toFixed(1)} ms, p90 ${t.p90.toFixed(1)} ms | |`
      ),
    ];
    console.log(`\nanalytics (${RUNS} runs, ${QUERIES} queries per endpoint):\n`);
    console.log(lines.join("\n"));
  } finally {
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
