/**
 * `tusk dev` (`deno task dev`): migrate, then API + worker + scheduler in one
 * process. A start-up failure a newcomer makes (a bad `.env`, a database that
 * is not there, a broken migration) never leaves the loop stalled: the error
 * is printed, and the next change to the env file, `migrations/` or
 * `emails/templates/` (or,
 * for a database that does not answer, a few seconds) starts it again.
 * Source files are `deno run --watch`'s, which restarts the whole process.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { DatabaseConnectError } from "../db/connection_errors.ts";
import { MIGRATIONS_DIR } from "../db/migrate/mod.ts";
import { TEMPLATES_DIR } from "../emails/render.ts";
import { envFilePath, processEnv } from "../lib/dotenv.ts";
import { createLogger } from "../lib/logging.ts";
import { runServer } from "./serve.ts";

// Long enough not to hammer a server that is starting; short enough to feel immediate.
const RECONNECT_MS = 5000;

/**
 * Runs dev until a signal; `isExpected` tells a start-up mistake (printed,
 * then waited out) from a bug (thrown). Returns the exit code.
 */
export async function devCommand(isExpected: (error: unknown) => error is Error): Promise<number> {
  for (;;) {
    try {
      const config = loadConfig(await processEnv());
      const log = createLogger({
        level: config.logLevel,
        base: { role: "api" },
        traceIds: config.tracing,
        buffered: !config.logsExported,
      });
      await runServer(config, log, { migrate: true, work: true, schedule: true });
      return 0;
    } catch (error) {
      if (!isExpected(error)) throw error;
      const retry = error instanceof DatabaseConnectError;
      // Listening before saying so: a Ctrl-C right after the message is ours to answer.
      const change = nextChange([resolve(envFilePath()), MIGRATIONS_DIR, TEMPLATES_DIR], retry);
      console.error(`tusk dev: ${error.message}`);
      console.error(
        `tusk dev: waiting for a change to ${envFilePath()}, migrations/ or emails/templates/` +
          `${retry ? `, or ${RECONNECT_MS / 1000} s,` : ""} to start again (Ctrl-C stops)`,
      );
      if (!(await change)) return 1;
    }
  }
}

/**
 * Resolves true when a file at (or under) one of `paths` changes, or after
 * {@link RECONNECT_MS} when `timeout`; false on SIGINT or SIGTERM.
 */
function nextChange(paths: string[], timeout: boolean): Promise<boolean> {
  // The env file's folder, not the file: it may not exist yet.
  const dirs = [...new Set(paths.map((p) => p.endsWith("/") ? p : dirname(p)))];
  const watchers = dirs.map((dir) => {
    try {
      return Deno.watchFs(dir, { recursive: false });
    } catch {
      return undefined; // a folder that is not there changes nothing
    }
  });
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let stop!: (changed: boolean) => void;
  const done = new Promise<boolean>((r) => stop = r);
  const onSignal = () => stop(false);
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const timer = timeout ? setTimeout(() => stop(true), RECONNECT_MS) : undefined;
  for (const watcher of watchers) {
    (async () => {
      for await (const event of watcher ?? []) {
        const hit = event.paths.some((p) =>
          paths.some((wanted) => wanted.endsWith("/") ? p.startsWith(wanted) : p === wanted)
        );
        if (hit) stop(true);
      }
    })().catch(() => {});
  }
  return done.finally(() => {
    clearTimeout(timer);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    for (const watcher of watchers) watcher?.close();
  });
}
