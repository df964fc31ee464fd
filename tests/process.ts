/**
 * Helpers to run Tusk as a real process in tests: spawn, read its output,
 * wait for readiness, signal it, and always kill it at the end.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The permissions the tasks grant; tests and spawned processes get the same. */
export const TEST_PERMISSIONS = [
  "--unstable-no-legacy-abort",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  "--allow-ffi",
];

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** A worker/scheduler entry that also registers the test jobs. */
export const TEST_ROLE_ENTRY = fileURLToPath(
  new URL("./fixtures/tusk_with_test_jobs.ts", import.meta.url),
);

/** A running `main.ts` process. */
export interface TuskProcess extends AsyncDisposable {
  pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves when `pattern` appears in the output; rejects on exit or timeout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: Deno.Signal): void;
  /** Signals the whole process group, as a terminal's Ctrl-C or systemd does (`task` only). */
  killGroup(signal: Deno.Signal): void;
  /** Exit status; resolves once. */
  status: Promise<Deno.CommandStatus>;
}

/** Ports {@link freePort} has handed out in this process. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, below the range the OS hands out for outgoing connections
 * (32768-60999 on Linux), so no client socket of the parallel suite can hold it by the time a
 * server binds it; never the same one twice in a process.
 */
export function freePort(): number {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
}

/**
 * The port a `serve` process started with `PORT=0` listens on, read from its "listening" line:
 * no other process can have taken it between choosing and binding.
 */
export async function listeningPort(proc: TuskProcess, timeoutMs = 60_000): Promise<number> {
  const line = /"msg":"listening".*?"url":"http:\/\/[^"]*:(\d+)"/;
  await proc.waitForOutput(line, timeoutMs);
  return Number(proc.output().match(line)![1]);
}

/** Options for {@link startTusk}. */
export interface StartOptions {
  /** Script to run instead of `main.ts`. */
  entry?: string;
  /** Written to standard input, which is then closed. */
  input?: string;
  /**
   * Run `deno task <task> ...args` from the project root instead, as its own
   * process group (through `setsid`), the way a terminal or systemd runs it.
   */
  task?: string;
  /** Deno permission flags instead of {@link TEST_PERMISSIONS}. */
  permissions?: string[];
  /** Run from this directory (with the project's deno.json named explicitly) instead of the root. */
  cwd?: string;
}

/**
 * Spawns `deno run main.ts ...args` with only `env` (plus PATH and HOME), so
 * the developer's own `.env` and variables never leak into a test.
 */
export function startTusk(
  args: string[],
  env: Record<string, string>,
  options: StartOptions = {},
): TuskProcess {
  const [command, commandArgs] = options.task === undefined
    ? [Deno.execPath(), [
      "run",
      ...(options.cwd === undefined ? [] : ["--config", `${ROOT}deno.json`]),
      ...(options.permissions ?? TEST_PERMISSIONS),
      options.entry ?? MAIN,
      ...args,
    ]]
    : ["setsid", [Deno.execPath(), "task", "--quiet", options.task, ...args]];
  const child = new Deno.Command(command, {
    args: commandArgs,
    cwd: options.cwd ?? ROOT,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
      // Inside the project (all the production permission sets may read), and never there.
      TUSK_ENV_FILE: ".data/tests-read-no.env",
      NO_COLOR: "1",
      ...env,
    },
    clearEnv: true,
    stdin: options.input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.input !== undefined) {
    const writer = child.stdin.getWriter();
    writer.write(new TextEncoder().encode(options.input)).then(() => writer.close()).catch(
      () => {},
    );
  }
  let text = "";
  let exited = false;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  async function pump(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      notify();
    }
  }
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps;
    exited = true;
    notify();
    return s;
  });
  return {
    pid: child.pid,
    output: () => text,
    status,
    waitForOutput(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`timed out waiting for ${pattern}`)),
          timeoutMs,
        );
        function check() {
          if (pattern.test(text)) done();
          else if (exited) done(new Error(`process exited before ${pattern}; output:\n${text}`));
        }
        function done(error?: Error) {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        }
        listeners.add(check);
        check();
      });
    },
    kill(signal: Deno.Signal = "SIGTERM") {
      if (!exited) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
    },
    killGroup(signal: Deno.Signal) {
      if (options.task === undefined) throw new Error("killGroup() needs a task process");
      try {
        // setsid made the child a group leader: its pid is the group id.
        Deno.kill(-child.pid, signal);
      } catch { /* the group is gone */ }
    },
    async [Symbol.asyncDispose]() {
      if (!exited) {
        try {
          if (options.task === undefined) child.kill("SIGKILL");
          else Deno.kill(-child.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      await status;
    },
  };
}

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `url` until it answers `expected`, or throws after `timeoutMs`. */
export async function waitForHttp(
  url: string,
  expected = 200,
  timeoutMs = 60_000,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === expected) return res;
      last = `${res.status} ${await res.text()}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer ${expected} within ${timeoutMs} ms (last: ${last})`);
}

/** Whether `name` is on PATH (e.g. psql, which comes with the PostgreSQL client packages). */
export function hasCommand(name: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
    .outputSync().success;
}
