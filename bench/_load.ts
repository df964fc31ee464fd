/**
 * HTTP load for the benchmarks: server processes started and stopped, and
 * `wrk` (Debian's package) runs read as requests per second.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { hasCommand, waitForHttp } from "../tests/process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// Unmeasured load first: a fresh process's JIT runs the first seconds at half speed or less.
const WARM_UP_SECONDS = 2;

/** Exits 1 saying how to install `tool` unless it is on PATH. */
export function needTool(bench: string, tool: string, install: string) {
  if (hasCommand(tool)) return;
  console.error(`${bench} needs ${tool}: ${install}`);
  Deno.exit(1);
}

/** A `deno ARGS` server process, once `url` answers 200; `await using` stops it. */
export function spawn(args: string[], env: Record<string, string>, url: string) {
  return spawnServer(Deno.execPath(), args, env, url);
}

/** A `command ARGS` server process (run in the project), once `url` answers 200. */
export async function spawnServer(
  command: string,
  args: string[],
  env: Record<string, string>,
  url: string,
) {
  const child = new Deno.Command(command, {
    args,
    cwd: ROOT,
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForHttp(url, 200, 60_000);
  let stopped: Promise<unknown> | undefined;
  return {
    pid: child.pid,
    /** Stops the server (once, however often called). */
    [Symbol.asyncDispose]() {
      stopped ??= (child.kill("SIGTERM"), child.status);
      return stopped.then(() => {});
    },
  };
}

/**
 * One wrk run after a warm-up: requests per second; throws on errors or
 * non-2xx answers. `script` is a wrk Lua file (method, headers, body).
 */
export async function wrk(
  url: string,
  options: { clients: number; seconds: number; script?: string },
): Promise<number> {
  await wrkOnce(url, options.clients, WARM_UP_SECONDS, options.script);
  return await wrkOnce(url, options.clients, options.seconds, options.script);
}

/**
 * As {@link wrk}, and the CPU time the server (process `pid` and its
 * descendants) spent per request during the measured run, in µs: on a
 * shared machine a second view of the cost, less tied than the rate to
 * how fast the other processes ran.
 */
export async function wrkWithCpu(
  url: string,
  options: { clients: number; seconds: number; script?: string; pid: number },
): Promise<{ rate: number; cpuUs: number }> {
  await wrkOnce(url, options.clients, WARM_UP_SECONDS, options.script);
  const before = await cpuSeconds(options.pid);
  const { rate, requests } = await wrkRun(url, options.clients, options.seconds, options.script);
  const used = await cpuSeconds(options.pid) - before;
  return { rate, cpuUs: used * 1e6 / requests };
}

/** User plus system CPU seconds of `pid` and its descendants, from `/proc`. */
async function cpuSeconds(pid: number): Promise<number> {
  // Fields 14 and 15 of stat (utime, stime), counted after the process name, in clock ticks.
  const ticks = await perProcess(pid, `sed 's/^.*) //' /proc/$1/stat | awk '{ print $12 + $13 }'`);
  return ticks.map(Number).reduce((a, b) => a + b, 0) / await clockTicks();
}

let ticksPerSecond: Promise<number> | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`), asked once. */
function clockTicks(): Promise<number> {
  return ticksPerSecond ??= new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
    .output().then(({ stdout }) => Number(new TextDecoder().decode(stdout)));
}

/**
 * The output of `read`, a shell command over `/proc/$1/...`, for `pid` and
 * each of its descendants (`deno task` runs a server as a child), one line
 * each; a process that ended meanwhile gives none.
 */
export async function perProcess(pid: number, read: string): Promise<string[]> {
  // Deno lets only --allow-all read /proc, so a shell does. A child is listed under the thread
  // that spawned it, not always the main one.
  const script = `one() { ${read}; }; each() { one $1 2>/dev/null; ` +
    `for c in $(cat /proc/$1/task/*/children 2>/dev/null); do each $c; done; }; each ${pid}`;
  const { stdout } = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" })
    .output();
  return new TextDecoder().decode(stdout).split("\n").filter((line) => line.trim() !== "");
}

async function wrkOnce(url: string, clients: number, seconds: number, script?: string) {
  return (await wrkRun(url, clients, seconds, script)).rate;
}

/** One wrk run: requests per second and requests made; throws on errors or non-2xx answers. */
async function wrkRun(url: string, clients: number, seconds: number, script?: string) {
  const { stdout, stderr, success } = await new Deno.Command("wrk", {
    args: ["-t1", `-c${clients}`, `-d${seconds}s`, ...(script ? ["-s", script] : []), url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  if (!success) throw new Error(`wrk failed: ${new TextDecoder().decode(stderr)}`);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out) ?? /Socket errors: (.*)/.exec(out);
  if (bad) throw new Error(`wrk against ${url}: ${bad[0]}\n${out}`);
  return {
    rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    requests: Number(/(\d+) requests in/.exec(out)![1]),
  };
}

/** The environment a benchmarked server process runs with: production, on `databaseUrl`. */
export function serverEnv(databaseUrl: string, extra: Record<string, string> = {}) {
  return {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
    DATABASE_URL: databaseUrl,
    SECRET_KEY: "b".repeat(40),
    ENVIRONMENT: "production",
    EMAIL_TRANSPORT: "off",
    ...extra,
  };
}
