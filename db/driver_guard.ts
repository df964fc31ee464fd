/**
 * A guard against a known postgres.js defect (3.4.9; upstream issues
 * porsager/postgres#1066, #1154, #1208): when a connection dies while a small
 * write is buffered, the driver later writes to its discarded socket from a
 * `setImmediate` callback, and the TypeError that follows escapes every
 * `await` and would end the process. By then the driver has already failed
 * that connection's queries with `CONNECTION_CLOSED`, so the write is moot.
 * This guard recognises exactly that error, logs it and keeps the process
 * alive; any other uncaught error still ends it. A crash drops every pending
 * write at once, so it logs once per outage, as `outageLogger` does.
 *
 * @module
 */
import type { Logger } from "../lib/logging.ts";
import { OUTAGE_LOG_GAP_MS } from "./outage.ts";

/** Whether `error` is the driver's write to a socket it already discarded. */
export function isDriverWriteAfterClose(error: unknown): boolean {
  return error instanceof TypeError &&
    /\(reading 'write'\)/.test(error.message) &&
    /nextWrite/.test(error.stack ?? "") &&
    /postgres[@/]/.test(error.stack ?? "");
}

let installed: { remove: () => void; users: number } | undefined;

/**
 * Installs the guard for this process (once, however many pools open);
 * returns a function that removes it when the last user is done.
 */
export function guardDriverCrashes(log: Logger): () => void {
  if (installed === undefined) {
    let lastAt = -Infinity;
    const onError = (event: ErrorEvent) => {
      if (!isDriverWriteAfterClose(event.error)) return;
      event.preventDefault();
      const now = Date.now();
      if (now - lastAt > OUTAGE_LOG_GAP_MS) {
        log.warn("database connection closed while writes were pending; they were dropped");
      }
      lastAt = now;
    };
    globalThis.addEventListener("error", onError);
    installed = {
      users: 0,
      remove: () => globalThis.removeEventListener("error", onError),
    };
  }
  const guard = installed;
  guard.users++;
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    if (--guard.users === 0) {
      guard.remove();
      if (installed === guard) installed = undefined;
    }
  };
}
