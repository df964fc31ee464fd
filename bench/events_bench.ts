/**
 * Live events under load: a real `main.ts serve` process holding N streams
 * (raw HTTP/1.1 connections from this process), with a write load of
 * tracked inserts made straight in Postgres, in one run on one database.
 *
 * For each N (1,000 and 5,000 by default):
 * - "everything": N superuser streams, each receiving every event (fan-out
 *   N per write), at a fixed 20 writes/s: delivery latency from the event's
 *   commit-time stamp (`at`, `clock_timestamp()`) to its arrival here, p50/p99;
 * - "own rows": N streams of N different users, writes spread over them
 *   (each delivered to its owner), at 200 writes/s: latency again;
 * - write throughput: 8 writers inserting as fast as they can, with the N
 *   own-rows streams open, against the mean of the same with no streams
 *   before and after (ratio; goal 0.9);
 * - the API process's RSS before and after opening the streams, per stream;
 * - the design not taken: tracked inserts with a NOTIFY trigger added to the
 *   history (as waking the readers by NOTIFY would need), against without.
 *
 * Usage: deno task bench:events [--streams 1000,5000] [--seconds 10] [--runs 3] [--write]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 * With --write, the figures go into BENCHMARKS.md and bench/events.svg.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { createSql, type Sql } from "../db/client.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { signAccessToken } from "../lib/jwt.ts";
import { createLogger } from "../lib/logging.ts";
import { freePort, waitForHttp } from "../tests/process.ts";
import { benchArgs, benchDatabase, formatWritten, median, percentile } from "./_bench.ts";

const args = benchArgs();
const SECONDS = args.seconds ?? 10;
const RUNS = args.runs ?? 3;
const STREAM_COUNTS = args.streams ?? [1000, 5000];
const WRITERS = 8;
const FANOUT_RATE = 20;
const OWN_RATE = 200;
const SECRET = "e".repeat(40);
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NOTIFY_TRIGGER = `
  create or replace function bench_notify() returns trigger language plpgsql as $$
  begin perform pg_notify('bench_events', ''); return null; end $$;
  create trigger bench_notify after insert on tusk_history.events
    for each statement execute function bench_notify()`;
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env", "--allow-sys", "--allow-ffi"];

/** A server process: its URL, its RSS, and stop(). */
async function serve(env: Record<string, string>) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-no-legacy-abort", ...PERMISSIONS, MAIN, "serve"],
    env: { ...env, PORT: String(port), LOG_LEVEL: "warn" },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await (await waitForHttp(`http://127.0.0.1:${port}/healthz`)).body?.cancel();
  return {
    port,
    async rssMb() {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** One stream over a raw socket: every event's latency (arrival - `at`) goes to `sink`. */
async function openStream(port: number, token: string, sink: { latencies: number[] | null }) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    `GET /api/v1/events?tables=items HTTP/1.1\r\nHost: bench\r\n` +
      `Authorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`,
  ));
  const decoder = new TextDecoder();
  let carry = "";
  let opened!: () => void;
  const ready = new Promise<void>((resolve) => opened = resolve);
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return;
      const now = Date.now();
      carry += decoder.decode(buffer.subarray(0, n), { stream: true });
      if (carry.includes("retry:")) opened();
      const end = carry.lastIndexOf("\n\n");
      if (end < 0) continue;
      const text = carry.slice(0, end);
      carry = carry.slice(end + 2);
      if (sink.latencies === null) continue;
      for (const m of text.matchAll(/"at":"([^"]+)"\}/g)) {
        sink.latencies.push(now - Date.parse(m[1]!));
      }
    }
  })();
  await ready;
  return {
    async close() {
      try {
        conn.close();
      } catch { /* closed by the server */ }
      await reading;
    },
  };
}

/** Inserts tracked items at `perSecond` for `seconds`, owners chosen by `owner(i)`. */
async function steadyWrites(sql: Sql, perSecond: number, owner: (i: number) => string) {
  const interval = 1000 / perSecond;
  const started = performance.now();
  let i = 0;
  while (performance.now() - started < SECONDS * 1000) {
    await sql`insert into items (title, owner_id) values (${"live " + i}, ${owner(i)})`;
    i++;
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return i;
}

/** `WRITERS` loops inserting as fast as they can for `SECONDS`: inserts per second. */
async function writeThroughput(sql: Sql, owner: (i: number) => string) {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async () => {
    while (performance.now() < until) {
      const i = done++;
      await sql`insert into items (title, owner_id) values (${"flat out " + i}, ${owner(i)})`;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

interface Figures {
  streams: number;
  fanout: { p50: number; p99: number; deliveredPerSecond: number };
  own: { p50: number; p99: number; deliveredPerSecond: number };
  writesWithout: number;
  writesWith: number;
  /** No streams, with a NOTIFY trigger on the history added: the wake-up design not taken. */
  writesNotifying: number;
  rssPerStreamKb: number;
  rssMb: number;
}

async function latencyPhase(
  server: Awaited<ReturnType<typeof serve>>,
  sql: Sql,
  tokens: string[],
  rate: number,
  owner: (i: number) => string,
) {
  const sink = { latencies: null as number[] | null };
  const streams = [];
  // Opened a hundred at a time: a burst of 5,000 connects is a different benchmark.
  for (let i = 0; i < tokens.length; i += 100) {
    streams.push(
      ...await Promise.all(tokens.slice(i, i + 100).map((t) => openStream(server.port, t, sink))),
    );
  }
  const rss = await server.rssMb();
  sink.latencies = [];
  await steadyWrites(sql, rate, owner);
  await new Promise((r) => setTimeout(r, 1000));
  const latencies = sink.latencies;
  sink.latencies = null;
  return {
    streams,
    rss,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    deliveredPerSecond: latencies.length / SECONDS,
  };
}

export async function main() {
  await using db = await benchDatabase("events");
  const sql = createSql(db.url, { role: "cli", poolSize: WRITERS + 2 });
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(db.url, JOBS, createLogger({ level: "error" }));
    const most = Math.max(...STREAM_COUNTS);
    // Users made in SQL (a password hash per user would take minutes); tokens signed directly.
    const users = await sql<{ id: string }[]>`
      insert into users (email, hashed_password, is_superuser)
      select 'live' || i || '@example.com', 'not a hash', i <= ${most}
      from generate_series(1, ${2 * most}) i returning id, is_superuser`;
    const supers = (users as unknown as { id: string; is_superuser: boolean }[])
      .filter((u) => u.is_superuser).map((u) => u.id);
    const normals = (users as unknown as { id: string; is_superuser: boolean }[])
      .filter((u) => !u.is_superuser).map((u) => u.id);
    const sign = (id: string) => signAccessToken(SECRET, { sub: id, ver: 0 }, 600);
    const all: Figures[] = [];
    for (const n of STREAM_COUNTS) {
      const runs: Figures[] = [];
      for (let run = 0; run < RUNS; run++) {
        const server = await serve({
          DATABASE_URL: db.url,
          SECRET_KEY: SECRET,
          EMAIL_TRANSPORT: "off",
          EVENTS_MAX_STREAMS: String(2 * most),
        });
        try {
          const before = await server.rssMb();
          const writesWithout = await writeThroughput(sql, (i) => normals[i % n]!);
          // The design not taken: a NOTIFY from every tracked write to wake the readers.
          await sql.unsafe(NOTIFY_TRIGGER);
          const writesNotifying = await writeThroughput(sql, (i) => normals[i % n]!);
          await sql`drop trigger bench_notify on tusk_history.events`;
          // Own rows first: the RSS read after opening them is the streams' cost alone.
          const ownTokens = await Promise.all(normals.slice(0, n).map(sign));
          const own = await latencyPhase(server, sql, ownTokens, OWN_RATE, (i) => normals[i % n]!);
          const writesWith = await writeThroughput(sql, (i) => normals[i % n]!);
          await Promise.all(own.streams.map((s) => s.close()));
          const fanTokens = await Promise.all(supers.slice(0, n).map(sign));
          const fan = await latencyPhase(
            server,
            sql,
            fanTokens,
            FANOUT_RATE,
            (i) => normals[i % n]!,
          );
          await Promise.all(fan.streams.map((s) => s.close()));
          // Again without, so the table's growth over the run weighs on both sides alike.
          const writesAfter = await writeThroughput(sql, (i) => normals[i % n]!);
          runs.push({
            streams: n,
            fanout: fan,
            own,
            writesWithout: (writesWithout + writesAfter) / 2,
            writesNotifying,
            writesWith,
            rssPerStreamKb: ((own.rss - before) * 1024) / n,
            rssMb: own.rss,
          });
          console.log(`bench:events: ${n} streams, run ${run + 1}/${RUNS} done`);
        } finally {
          await server.stop();
        }
      }
      const m = (f: (r: Figures) => number) => median(runs.map(f));
      all.push({
        streams: n,
        fanout: {
          p50: m((r) => r.fanout.p50),
          p99: m((r) => r.fanout.p99),
          deliveredPerSecond: m((r) => r.fanout.deliveredPerSecond),
        },
        own: {
          p50: m((r) => r.own.p50),
          p99: m((r) => r.own.p99),
          deliveredPerSecond: m((r) => r.own.deliveredPerSecond),
        },
        writesWithout: m((r) => r.writesWithout),
        writesWith: m((r) => r.writesWith),
        writesNotifying: m((r) => r.writesNotifying),
        rssPerStreamKb: m((r) => r.rssPerStreamKb),
        rssMb: m((r) => r.rssMb),
      });
    }
    const table = report(all, db.server);
    console.log(table);
    if (args.write) await writeReport(table, all);
  } finally {
    await sql.end();
  }
}

function report(all: Figures[], server: string): string {
  const f = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 0 });
  const rows = all.map((r) =>
    `| ${f(r.streams)} | ${f(r.fanout.p50)} / **${f(r.fanout.p99)}** ms | ` +
    `${f(r.fanout.deliveredPerSecond)} | ${f(r.own.p50)} / ${f(r.own.p99)} ms | ` +
    `${f(r.writesWith)} / ${f(r.writesWithout)} = **${
      (r.writesWith / r.writesWithout).toFixed(2)
    }** | ` +
    `${r.rssPerStreamKb.toFixed(0)} KB (${f(r.rssMb)} MB) |`
  );
  const notify = all.map((r) => r.writesNotifying / r.writesWithout);
  return [
    "| streams | every event to every stream, 20 writes/s: latency p50 / p99 | deliveries/s | " +
    "each user's own rows, 200 writes/s: p50 / p99 | inserts/s with / without streams | " +
    "RSS per stream (API RSS) |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n") +
    `\n\nMedians of ${RUNS} runs, ${SECONDS} s per phase, ${WRITERS} writers flat out; ` +
    `${server}; goals: p99 < 250 ms at 1,000 streams, inserts with streams >= 0.9 of without. ` +
    `Had every tracked write sent a NOTIFY to wake the readers (a statement trigger on the ` +
    `history, no stream open), inserts/s would be ` +
    `${notify.map((w) => w.toFixed(2)).join(" and ")} of what they are: readers poll instead.`;
}

function chart(all: Figures[]): string {
  const width = 640;
  const rowHeight = 30;
  const label = 220;
  const top = 40;
  const max = Math.max(250, ...all.flatMap((r) => [r.fanout.p99, r.own.p99])) * 1.1;
  const x = (ms: number) => label + (ms / max) * (width - label - 60);
  const bars = all.flatMap((r, i) =>
    [["every event", r.fanout.p99], ["own rows", r.own.p99]].map(([name, ms], j) => {
      const y = top + (i * 2 + j) * rowHeight;
      const v = ms as number;
      return `<text x="${label - 8}" y="${
        y + 14
      }" text-anchor="end">${r.streams} streams, ${name}</text>` +
        `<rect x="${label}" y="${y}" width="${x(v) - label}" height="18" fill="${
          v < 250 ? "#3b7d4f" : "#c0504d"
        }"/><text x="${x(v) + 6}" y="${y + 14}">${v.toFixed(0)} ms</text>`;
    })
  );
  const height = top + all.length * 2 * rowHeight + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${label}" y="20" font-weight="bold">Delivery latency p99 (dashed: 250 ms goal)</text>` +
    `<line x1="${x(250)}" x2="${x(250)}" y1="${top - 6}" y2="${height - 14}" stroke="#222" ` +
    `stroke-dasharray="3 2"/>${bars.join("")}</svg>\n`;
}

async function writeReport(table: string, all: Figures[]) {
  const path = `${ROOT}BENCHMARKS.md`;
  const text = await Deno.readTextFile(path);
  const start = "<!-- bench:events start -->";
  const end = "<!-- bench:events end -->";
  const block = `${start}\n${table}\n\n![bench:events latency](bench/events.svg)\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) throw new Error(`BENCHMARKS.md has no ${start} ... ${end} section`);
  await Deno.writeTextFile(path, text.slice(0, i) + block + text.slice(j + end.length));
  await Deno.writeTextFile(`${ROOT}bench/events.svg`, chart(all));
  await formatWritten(path, `${ROOT}bench/events.svg`);
  console.log("bench:events: wrote BENCHMARKS.md and bench/events.svg");
}

if (import.meta.main) await main();
