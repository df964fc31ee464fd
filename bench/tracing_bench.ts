/**
 * What tracing costs a request: `GET /api/v1/items/{id}` (token check, user
 * row, item row) served by a real `main.ts serve` process, with tracing off
 * and with tracing on (OTEL_DENO=true, every request sampled, exporting over
 * OTLP/HTTP to a sink process that reads and discards), in one run on one
 * database. Each run starts a fresh server; modes alternate so drift on a
 * shared machine favours neither; the first run of each is a warm-up and is
 * dropped. Reported: median requests per second, and the server process's
 * CPU time per request (from /proc; steadier than throughput on a machine
 * the load generator and Postgres share), each as on/off.
 *
 * Usage: deno task bench:tracing [--runs 3] [--seconds 10] [--clients 32]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 * TRACING_BENCH_BASELINE=path/to/other/main.ts adds a third mode: that
 * checkout's server, tracing off (to compare "off" with an older commit).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { createSql } from "../db/client.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { registerUser } from "../services/accounts.ts";
import { createLogger } from "../lib/logging.ts";
import { freePort, waitForHttp } from "../tests/process.ts";
import { benchArgs, benchDatabase, benchServers, median } from "./_bench.ts";

const args = benchArgs();
const RUNS = args.runs ?? 3;
const SECONDS = args.seconds ?? 10;
const CLIENTS = args.clients ?? 32;
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const SINK = fileURLToPath(new URL("./_otlp_sink.ts", import.meta.url));
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env", "--allow-sys", "--allow-ffi"];

/** Starts a server process; its output is discarded (a terminal would slow it down). */
async function serve(main: string, env: Record<string, string>) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-no-legacy-abort", ...PERMISSIONS, main, "serve"],
    env: { ...env, PORT: String(port), LOG_LEVEL: "info" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`);
  return {
    url,
    /** CPU time the server process has used, in ms (user + system, from /proc). */
    async cpuMs(): Promise<number> {
      const { stdout } = await new Deno.Command("cat", { args: [`/proc/${child.pid}/stat`] })
        .output();
      // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks.
      const fields = new TextDecoder().decode(stdout).split(") ")[1]!.split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** `CLIENTS` keep-alive loops hitting `url` for `seconds`: requests per second, and how many. */
async function load(url: string, headers: HeadersInit, seconds: number) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < until) {
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (res.status === 200) done++;
      else failed++;
    }
  }));
  if (failed > 0) throw new Error(`${failed} requests failed`);
  return { rate: done / ((performance.now() - started) / 1000), requests: done };
}

export async function main() {
  for (const pg of benchServers(args)) await measure(pg);
}

/** One run of the benchmark on one server (`pg`: an embedded version, see `--pg`). */
async function measure(pg?: string) {
  await using db = await benchDatabase("tracing", pg);
  const sql = createSql(db.url, { role: "cli", poolSize: 2 });
  let itemId: string;
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(db.url, JOBS, createLogger({ level: "error" }));
    const user = await registerUser(sql, {
      email: "bench@example.com",
      password: "bench password",
    });
    const [item] = await sql<{ id: string }[]>`
      insert into items (title, owner_id) values ('benchmarked', ${user.id}) returning id`;
    itemId = item!.id;
  } finally {
    await sql.end();
  }

  const sinkPort = freePort();
  const sink = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", SINK, String(sinkPort)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const base = {
    DATABASE_URL: db.url,
    SECRET_KEY: "b".repeat(40),
    EMAIL_TRANSPORT: "off",
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
  };
  const traced = {
    OTEL_DENO: "true",
    OTEL_SERVICE_NAME: "tusk-api",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
  };
  const modes: Record<string, { main: string; env: Record<string, string> }> = {
    off: { main: MAIN, env: base },
    on: { main: MAIN, env: { ...base, ...traced } },
  };
  const baseline = Deno.env.get("TRACING_BENCH_BASELINE");
  if (baseline) modes.baseline = { main: baseline, env: base };

  const rates: Record<string, number[]> = Object.fromEntries(
    Object.keys(modes).map((m) => [m, []]),
  );
  const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  try {
    for (let run = -1; run < RUNS; run++) {
      const order = run % 2 === 0 ? Object.keys(modes) : Object.keys(modes).reverse();
      for (const mode of order) {
        const server = await serve(modes[mode]!.main, modes[mode]!.env);
        try {
          const login = await fetch(`${server.url}/api/v1/login/access-token`, {
            method: "POST",
            body: new URLSearchParams({
              username: "bench@example.com",
              password: "bench password",
            }),
          });
          const { access_token } = await login.json();
          const url = `${server.url}/api/v1/items/${itemId}`;
          const headers = { Authorization: `Bearer ${access_token}` };
          await load(url, headers, 2); // warm-up: JIT, connections, prepared statements
          const cpuBefore = await server.cpuMs();
          const { rate, requests } = await load(url, headers, SECONDS);
          const cpuPerRequest = (await server.cpuMs() - cpuBefore) * 1000 / requests;
          if (run >= 0) {
            rates[mode]!.push(rate);
            cpu[mode]!.push(cpuPerRequest);
          }
          console.log(
            `bench: run ${run < 0 ? "warm-up" : run + 1}, tracing ${mode}: ${
              rate.toFixed(0)
            } req/s, ` +
              `server CPU ${cpuPerRequest.toFixed(0)} µs/request`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    sink.kill("SIGTERM");
    const received = new TextDecoder().decode((await sink.output()).stdout).trim();
    console.log(`bench: the sink received ${received}`);
  }

  const off = median(rates.off!);
  const on = median(rates.on!);
  const [cpuOff, cpuOn] = [median(cpu.off!), median(cpu.on!)];
  console.log(
    `\ntracing bench: GET /api/v1/items/{id}, ${CLIENTS} clients, ${SECONDS} s per run, ` +
      `${RUNS} runs, median\n` +
      `  tracing off: ${off.toFixed(0)} req/s, server CPU ${cpuOff.toFixed(0)} µs/request\n` +
      `  tracing on:  ${on.toFixed(0)} req/s, server CPU ${cpuOn.toFixed(0)} µs/request\n` +
      `  on/off: throughput ${(on / off).toFixed(2)}, CPU per request ${
        (cpuOn / cpuOff).toFixed(2)
      }`,
  );
  if (rates.baseline) {
    const before = median(rates.baseline);
    console.log(
      `  baseline (${baseline}, tracing off): ${before.toFixed(0)} req/s, server CPU ` +
        `${median(cpu.baseline!).toFixed(0)} µs/request (off/baseline ${
          (off / before).toFixed(2)
        })`,
    );
  }
}

if (import.meta.main) await main();
