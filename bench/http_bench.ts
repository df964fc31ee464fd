/**
 * The HTTP hot path against its floors, in one run: `Deno.serve` and Hono
 * hello worlds, Tusk's `/healthz`, `GET /items/{id}`, `POST /items/`,
 * `/users/me` and login (a real `deno task start` process on its own
 * database), pgbench running the same statements at the same concurrency,
 * and what users would pick instead doing the same work: Hono on Bun with
 * `Bun.sql`, Fastify with `pg` on Node (`_peers.ts`), and the same work on
 * Deno with postgres.js (`_deno_peer.ts`); the API with tracing on
 * (exporting every request to `_otlp_sink.ts`, then one in ten) and the
 * runtime's own tracing cost; then the API's peak and settled RSS, and for
 * `GET /items/{id}` and `POST /items/` each server's CPU per request. Load
 * comes from `wrk` (Debian's package). Prints the table, and with `--write`
 * puts it and an SVG chart of the ratios into BENCHMARKS.md and
 * `bench/http.svg`.
 *
 * Usage: deno task bench:http [--runs 3] [--seconds 10] [--clients 32] [--write]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { createSql } from "../db/client.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { registerUser } from "../services/accounts.ts";
import { hashPassword } from "../lib/password.ts";
import { createLogger } from "../lib/logging.ts";
import { freePort } from "../tests/process.ts";
import { benchArgs, benchDatabase, benchServers, formatWritten, median } from "./_bench.ts";
import { barChart, type CpuRow, type Memory, type Row, toMarkdown } from "./_http_report.ts";
import {
  needTool,
  perProcess,
  serverEnv,
  spawn,
  wrk as load,
  wrkWithCpu as loadWithCpu,
} from "./_load.ts";
import { installPeers, startPeer } from "./_peers.ts";

const args = benchArgs();
const WRITE = args.write ?? false;
const RUNS = args.runs ?? 3;
const SECONDS = args.seconds ?? 10;
const CLIENTS = args.clients ?? 32;
// Login is bounded by argon2id on the cores: measured at low concurrency, one client per core.
const LOGIN_CLIENTS = navigator.hardwareConcurrency;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FLOOR = fileURLToPath(new URL("./_floor.ts", import.meta.url));
const DRIVER_FLOOR = fileURLToPath(new URL("./_driver_floor.ts", import.meta.url));
const DENO_PEER = fileURLToPath(new URL("./_deno_peer.ts", import.meta.url));
const OTLP_SINK = fileURLToPath(new URL("./_otlp_sink.ts", import.meta.url));
// The documented low-memory setting (README, Performance): smaller young generation, capped old one.
const LOW_MEMORY_V8_FLAGS = "--max-semi-space-size=4,--max-old-space-size=96";
const PASSWORD = "bench password";
// Seconds without requests before the API's RSS is read: V8 gives back what a load made it take
// a few seconds after the load ends.
const SETTLE_SECONDS = 15;

function wrk(url: string, clients: number, script?: string): Promise<number> {
  return load(url, { clients, seconds: SECONDS, script });
}

/** CPU µs per request of the server process `pid`, per figure, across runs. */
const cpuResults: Record<string, number[]> = {};

/** A wrk run whose rate is returned and whose server CPU per request is kept under `key`. */
async function wrkCpu(key: string, url: string, pid: number, script?: string): Promise<number> {
  const { rate, cpuUs } = await loadWithCpu(url, {
    clients: CLIENTS,
    seconds: SECONDS,
    script,
    pid,
  });
  (cpuResults[key] ??= []).push(cpuUs);
  return rate;
}

/** The driver's floor (`_driver_floor.ts`) in its own process: pairs of reads per second. */
async function driverFloor(url: string, userId: string, itemId: string): Promise<number> {
  const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DRIVER_FLOOR, url, userId, itemId, String(SECONDS), String(CLIENTS)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`the driver floor failed: ${new TextDecoder().decode(stderr)}`);
  return Number(new TextDecoder().decode(stdout).trim());
}

/** One pgbench run of `script` (the same statements an endpoint runs): transactions per second. */
async function pgbench(url: string, script: string, vars: Record<string, string>) {
  const u = new URL(url);
  const { stdout, stderr, success } = await new Deno.Command("pgbench", {
    args: [
      "-n",
      "-M",
      "prepared",
      `-c${CLIENTS}`,
      "-j2",
      `-T${SECONDS}`,
      "-f",
      script,
      ...Object.entries(vars).flatMap(([k, v]) => ["-D", `${k}=${v}`]),
      "-h",
      u.hostname,
      "-p",
      u.port || "5432",
      "-U",
      decodeURIComponent(u.username),
      u.pathname.slice(1),
    ],
    env: { PGPASSWORD: decodeURIComponent(u.password) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  if (!success) throw new Error(`pgbench failed: ${new TextDecoder().decode(stderr)}${out}`);
  return Number(/tps = ([\d.]+)/.exec(out)![1]);
}

async function writeFile(dir: string, name: string, text: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** Runs the benchmark, prints the table, and with --write updates BENCHMARKS.md and the chart. */
export async function main() {
  for (const pg of benchServers(args)) await measure(pg);
}

/** One run of the benchmark on one server (`pg`: an embedded version, see `--pg`). */
async function measure(pg?: string) {
  needTool("bench:http", "wrk", "apt-get install -y wrk");
  needTool("bench:http", "pgbench", "apt-get install -y postgresql-client (it ships pgbench)");
  await installPeers();
  await using db = await benchDatabase("http", pg);
  const scratch = await Deno.makeTempDir({ prefix: "tusk-bench-http-" });
  const sql = createSql(db.url, { role: "cli", poolSize: 2 });
  let userId: string;
  let itemId: string;
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(db.url, JOBS, createLogger({ level: "error" }));
    const user = await registerUser(sql, { email: "bench@example.com", password: PASSWORD });
    userId = user.id;
    const [item] = await sql<{ id: string }[]>`
      insert into items (title, owner_id) values ('benchmarked', ${user.id}) returning id`;
    itemId = item!.id;
  } finally {
    await sql.end();
  }

  const results: Record<string, number[]> = {};
  const add = (key: string, value: number) => (results[key] ??= []).push(value);
  let memory: Memory = { peakMb: 0, settledMb: 0 };
  let lowMemory: Memory = { peakMb: 0, settledMb: 0 };
  try {
    const env = serverEnv(db.url, {
      // A login per second per client would trip the throttles meant for attackers.
      LOGIN_LIMIT_PER_ACCOUNT: "1000000",
      LOGIN_LIMIT_PER_CLIENT: "1000000",
    });
    for (let run = 0; run < RUNS; run++) {
      for (const kind of ["deno", "headers", "hono"]) {
        const port = freePort();
        const url = `http://127.0.0.1:${port}/`;
        await using _ = await spawn(["run", "--allow-net", FLOOR, kind, String(port)], env, url);
        add(kind, await wrk(url, CLIENTS));
      }
      const port = freePort();
      const base = `http://127.0.0.1:${port}`;
      // As a user runs it: `deno task start` (the serve permission set).
      await using api = await spawn(
        ["task", "--quiet", "start"],
        { ...env, PORT: String(port) },
        `${base}/healthz`,
      );
      const login = await fetch(`${base}/api/v1/login/access-token`, {
        method: "POST",
        body: new URLSearchParams({ username: "bench@example.com", password: PASSWORD }),
      });
      const token = (await login.json()).access_token as string;
      const auth = `wrk.headers["Authorization"] = "Bearer ${token}"\n`;
      const get = await writeFile(scratch, "get.lua", auth);
      const post = await writeFile(
        scratch,
        "post.lua",
        `${auth}wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n` +
          `wrk.body = '{"title": "bench item", "description": "made by wrk"}'\n`,
      );
      const form = await writeFile(
        scratch,
        "login.lua",
        `wrk.method = "POST"\n` +
          `wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n` +
          `wrk.body = "username=bench%40example.com&password=bench%20password"\n`,
      );
      add("healthz", await wrk(`${base}/healthz`, CLIENTS));
      add("get_item", await wrkCpu("get_item", `${base}/api/v1/items/${itemId}`, api.pid, get));
      add("users_me", await wrk(`${base}/api/v1/users/me`, CLIENTS, get));
      add("post_item", await wrkCpu("post_item", `${base}/api/v1/items/`, api.pid, post));
      add("login", await wrk(`${base}/api/v1/login/access-token`, LOGIN_CLIENTS, form));
      memory = worse(memory, await settledMemory(api.pid));

      // The statements those endpoints run: the token's user, then the item; and the insert
      // with the history context set ahead of it in one pipeline, one implicit transaction
      // (a single Sync at \endpipeline), as the API sends it.
      const read = await writeFile(
        scratch,
        "read.sql",
        "select * from users where id = :uid;\nselect * from items where id = :iid;\n",
      );
      const write = await writeFile(
        scratch,
        "write.sql",
        "select * from users where id = :uid;\n\\startpipeline\n" +
          // A new context per request, as the API makes one.
          "select set_config('tusk.history_context', json_build_object('id', gen_random_uuid(), " +
          "'metadata', json_build_object('method', 'POST', 'route', '/api/v1/items/'))::text, true);\n" +
          "insert into items (title, description, owner_id) values ('bench item', 'made by pgbench', :uid) returning *;\n" +
          "\\endpipeline\n",
      );
      add("pg_read", await pgbench(db.url, read, { uid: userId, iid: itemId }));
      add("driver_read", await driverFloor(db.url, userId, itemId));
      add("pg_write", await pgbench(db.url, write, { uid: userId }));

      // The peers, on the same database with the same token, one at a time.
      for (const peer of ["bun", "fastify"] as const) {
        const peerPort = freePort();
        const peerBase = `http://127.0.0.1:${peerPort}/api/v1`;
        await using server = await startPeer(peer, peerPort, env);
        const [getKey, postKey] = [`${peer}_get_item`, `${peer}_post_item`];
        add(getKey, await wrkCpu(getKey, `${peerBase}/items/${itemId}`, server.pid, get));
        add(postKey, await wrkCpu(postKey, `${peerBase}/items/`, server.pid, post));
      }
      // The same work on Deno: the Bun peer's code, then the least a Deno server does.
      for (const mode of ["hono", "bare"] as const) {
        const peerPort = freePort();
        const peerBase = `http://127.0.0.1:${peerPort}/api/v1`;
        await using server = await spawn(
          ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", DENO_PEER, mode],
          { ...env, PORT: String(peerPort) },
          `http://127.0.0.1:${peerPort}/healthz`,
        );
        const getKey = `deno_${mode}_get_item`;
        add(getKey, await wrkCpu(getKey, `${peerBase}/items/${itemId}`, server.pid, get));
        if (mode === "bare") {
          const postKey = "deno_bare_post_item";
          add(postKey, await wrkCpu(postKey, `${peerBase}/items/`, server.pid, post));
        }
      }

      // The same API with the low-memory V8 setting: what it costs in throughput, and its RSS.
      await api[Symbol.asyncDispose]();
      const lowPort = freePort();
      const lowBase = `http://127.0.0.1:${lowPort}`;
      await using low = await spawn(
        ["task", "--quiet", "start"],
        { ...env, PORT: String(lowPort), DENO_V8_FLAGS: LOW_MEMORY_V8_FLAGS },
        `${lowBase}/healthz`,
      );
      add("low_healthz", await wrk(`${lowBase}/healthz`, CLIENTS));
      add("low_get_item", await wrk(`${lowBase}/api/v1/items/${itemId}`, CLIENTS, get));
      lowMemory = worse(lowMemory, await settledMemory(low.pid));
      await low[Symbol.asyncDispose]();

      // Tracing on: every request sampled, exported over OTLP/HTTP to a sink that discards it.
      const sinkPort = freePort();
      await using _sink = await spawn(
        ["run", "--allow-net", OTLP_SINK, String(sinkPort)],
        env,
        `http://127.0.0.1:${sinkPort}/`,
      );
      const otel = {
        OTEL_DENO: "true",
        OTEL_SERVICE_NAME: "tusk-api",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
      };
      // Every request sampled, then one in ten (the usual production setting), then the runtime's
      // own cost: a `Deno.serve` hello world with every request traced.
      const sampled10 = {
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.1",
      };
      for (const [key, extra] of [["traced", {}], ["traced10", sampled10]] as const) {
        const tracedPort = freePort();
        const tracedBase = `http://127.0.0.1:${tracedPort}`;
        await using _traced = await spawn(
          ["task", "--quiet", "start"],
          { ...env, ...otel, ...extra, PORT: String(tracedPort) },
          `${tracedBase}/healthz`,
        );
        add(`${key}_get_item`, await wrk(`${tracedBase}/api/v1/items/${itemId}`, CLIENTS, get));
      }
      const helloPort = freePort();
      const helloUrl = `http://127.0.0.1:${helloPort}/`;
      await using _hello = await spawn(
        ["run", "--allow-net", FLOOR, "deno", String(helloPort)],
        { ...env, ...otel },
        helloUrl,
      );
      add("traced_deno", await wrk(helloUrl, CLIENTS));
    }
    const m = (key: string) => median(results[key]!);
    const hashMs = await argon2Ms();
    const loginBound = navigator.hardwareConcurrency * 1000 / hashMs;
    // A row whose rate is `key`'s median, as a ratio of `base`'s (itself, for a baseline).
    const row = (label: string, key: string, base: string, of: string, goal?: number): Row => ({
      label,
      rate: m(key),
      ratio: m(key) / m(base),
      of,
      goal,
    });
    const rows: Row[] = [
      row("`Deno.serve` hello world", "deno", "deno", "Deno.serve"),
      row("`Deno.serve` JSON with Tusk's response headers", "headers", "deno", "Deno.serve"),
      row("Hono hello world", "hono", "deno", "Deno.serve"),
      row("Tusk `GET /healthz`", "healthz", "deno", "Deno.serve", 0.3),
      row(
        "Tusk `GET /healthz`, against the same headers",
        "healthz",
        "headers",
        "Deno.serve + headers",
      ),
      row("pgbench: the user + item reads", "pg_read", "pg_read", "pgbench"),
      row("Tusk `GET /api/v1/items/{id}`", "get_item", "pg_read", "pgbench reads", 0.3),
      row("Hono on Bun `GET /api/v1/items/{id}`", "bun_get_item", "pg_read", "pgbench reads"),
      row(
        "Fastify on Node `GET /api/v1/items/{id}`",
        "fastify_get_item",
        "pg_read",
        "pgbench reads",
      ),
      row(
        "Tusk `GET /api/v1/items/{id}`, against Bun",
        "get_item",
        "bun_get_item",
        "Hono on Bun",
        0.8,
      ),
      row(
        "The Bun peer's code on Deno (Hono, postgres.js) `GET`",
        "deno_hono_get_item",
        "bun_get_item",
        "Hono on Bun",
      ),
      row(
        "The least Deno server (`Deno.serve`, postgres.js, no framework) `GET`",
        "deno_bare_get_item",
        "bun_get_item",
        "Hono on Bun",
      ),
      row(
        "Tusk `GET /api/v1/items/{id}`, against the least Deno server",
        "get_item",
        "deno_bare_get_item",
        "the least Deno server",
      ),
      row(
        "postgres.js alone: the same reads through Tusk's pool, no HTTP",
        "driver_read",
        "pg_read",
        "pgbench reads",
      ),
      row(
        "Tusk `GET /api/v1/items/{id}`, against postgres.js alone",
        "get_item",
        "driver_read",
        "postgres.js alone",
      ),
      row("Tusk `GET /api/v1/users/me`", "users_me", "pg_read", "pgbench reads"),
      row(
        "pgbench: the user read + tracked insert (context and insert pipelined)",
        "pg_write",
        "pg_write",
        "pgbench",
      ),
      row("Tusk `POST /api/v1/items/`", "post_item", "pg_write", "pgbench insert"),
      row(
        "Hono on Bun `POST /api/v1/items/` (no history context)",
        "bun_post_item",
        "pg_write",
        "pgbench insert",
      ),
      row(
        "Fastify on Node `POST /api/v1/items/` (no history context)",
        "fastify_post_item",
        "pg_write",
        "pgbench insert",
      ),
      row(
        "The least Deno server `POST` (no history context)",
        "deno_bare_post_item",
        "bun_post_item",
        "Hono on Bun",
      ),
      row(
        "Tusk `POST /api/v1/items/`, against Bun",
        "post_item",
        "bun_post_item",
        "Hono on Bun",
        0.8,
      ),
      row(
        "Tusk `POST /api/v1/items/`, against Fastify",
        "post_item",
        "fastify_post_item",
        "Fastify on Node",
        1.5,
      ),
      {
        label: `Tusk login (${LOGIN_CLIENTS} clients)`,
        rate: m("login"),
        ratio: m("login") / loginBound,
        of: `argon2id bound (${loginBound.toFixed(0)}/s)`,
      },
      row(
        "Tusk `GET /healthz`, low-memory V8 setting",
        "low_healthz",
        "healthz",
        "default setting",
      ),
      row(
        "Tusk `GET /api/v1/items/{id}`, low-memory V8 setting",
        "low_get_item",
        "get_item",
        "default setting",
      ),
      row(
        "Tusk `GET /api/v1/items/{id}`, tracing on (every request, OTLP)",
        "traced_get_item",
        "get_item",
        "tracing off",
        0.8,
      ),
      row(
        "Tusk `GET /api/v1/items/{id}`, tracing on (one request in ten sampled)",
        "traced10_get_item",
        "get_item",
        "tracing off",
      ),
      row(
        "`Deno.serve` hello world, tracing on (every request, OTLP)",
        "traced_deno",
        "deno",
        "tracing off",
      ),
    ];
    // CPU per request (user + system, the server process and its children, over the measured
    // run): less tied than req/s to what else the shared machine runs; lower is cheaper.
    const cpuOf = (key: string) => median(cpuResults[key]!);
    const cpu = (label: string, key: string, base?: string, of?: string): CpuRow => ({
      label,
      us: cpuOf(key),
      ratio: base === undefined ? undefined : cpuOf(key) / cpuOf(base),
      of,
    });
    const cpuRows: CpuRow[] = [
      cpu("Hono on Bun `GET /api/v1/items/{id}`", "bun_get_item"),
      cpu("Tusk `GET /api/v1/items/{id}`", "get_item", "bun_get_item", "Bun's"),
      cpu("The least Deno server `GET`", "deno_bare_get_item", "bun_get_item", "Bun's"),
      cpu("The Bun peer's code on Deno `GET`", "deno_hono_get_item", "bun_get_item", "Bun's"),
      cpu("Fastify on Node `GET`", "fastify_get_item", "bun_get_item", "Bun's"),
      cpu("Hono on Bun `POST /api/v1/items/` (no history context)", "bun_post_item"),
      cpu("Tusk `POST /api/v1/items/`", "post_item", "bun_post_item", "Bun's"),
      cpu("The least Deno server `POST`", "deno_bare_post_item", "bun_post_item", "Bun's"),
      cpu("Fastify on Node `POST`", "fastify_post_item", "bun_post_item", "Bun's"),
    ];
    const table = toMarkdown(rows, {
      cpu: cpuRows,
      date: new Date().toISOString().slice(0, 10),
      runs: RUNS,
      seconds: SECONDS,
      clients: CLIENTS,
      memory,
      lowMemory,
      lowMemoryFlags: LOW_MEMORY_V8_FLAGS,
      settleSeconds: SETTLE_SECONDS,
      hashMs,
    });
    console.log(`\n${table}`);
    if (WRITE) {
      await Deno.writeTextFile(`${ROOT}bench/http.svg`, barChart(rows));
      const path = `${ROOT}BENCHMARKS.md`;
      const text = await Deno.readTextFile(path);
      const start = "<!-- bench:http -->";
      const end = "<!-- /bench:http -->";
      const block = `${start}\n${table}\n\n![bench:http ratios](bench/http.svg)\n${end}`;
      await Deno.writeTextFile(
        path,
        text.includes(start)
          ? text.replace(new RegExp(`${start}[\\s\\S]*${end}`), block)
          : `${text.trimEnd()}\n\n## HTTP: the hot path against its floors\n\n${block}\n`,
      );
      await formatWritten(path, `${ROOT}bench/http.svg`);
      console.log("bench:http: wrote BENCHMARKS.md and bench/http.svg");
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** The worse of two memory readings, field by field (across runs). */
function worse(a: Memory, b: Memory): Memory {
  return { peakMb: Math.max(a.peakMb, b.peakMb), settledMb: Math.max(a.settledMb, b.settledMb) };
}

/**
 * The API's memory once its load has ended: the peak RSS under load (the
 * kernel's `VmHWM`) and the RSS after {@link SETTLE_SECONDS} without
 * requests, once V8 has given back what the load made it take. Of the
 * largest process among `pid` and its descendants (`deno task` runs the
 * server as a child).
 */
async function settledMemory(pid: number): Promise<Memory> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
  const processes = (await perProcess(
    pid,
    `awk '/VmHWM|VmRSS/ { printf "%s ", $2 } END { print "" }' /proc/$1/status`,
  ))
    .map((line) => line.trim().split(/\s+/).map((kb) => Number(kb) * 1024 / 1e6))
    .filter(([peak, rss]) => Number.isFinite(peak) && Number.isFinite(rss));
  const [peakMb, settledMb] = processes.reduce((a, b) => (b[0]! > a[0]! ? b : a), [0, 0]);
  return { peakMb: peakMb!, settledMb: settledMb! };
}

/** Milliseconds of one argon2id hash as Tusk makes it (median of 9). */
async function argon2Ms(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const started = performance.now();
    await hashPassword(PASSWORD);
    times.push(performance.now() - started);
  }
  return median(times);
}

if (import.meta.main) await main();
