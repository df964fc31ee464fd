/**
 * Shutdown on SIGINT/SIGTERM, shared by every long-running role.
 *
 * @module
 */
import type { Logger } from "./logging.ts";

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * `deno task` forwards a terminal's Ctrl-C to its child a second time 1–3 ms
 * after the terminal's own, and a supervisor that signals a whole process group
 * reaches us through every wrapper in it: signals this close together are one
 * request, not an impatient operator.
 */
const REPEAT_WINDOW_MS = 250;
/** The third distinct request forces the exit (a stuck shutdown must stay escapable). */
const FORCE_AFTER = 3;
/** What a shell reports for a process ended by SIGINT. */
const FORCED_EXIT_CODE = 130;

/** Listens for shutdown signals until disposed. */
export interface ShutdownSignals extends Disposable {
  /** Resolves with the first SIGINT or SIGTERM. */
  received: Promise<Deno.Signal>;
}

/** Options for {@link listenForShutdown}. */
export interface ShutdownOptions {
  log: Logger;
  /** Called on the forced exit instead of `Deno.exit` (for tests). */
  exit?: (code: number) => void;
  /** Clock in ms (for tests). */
  now?: () => number;
}

/**
 * Starts listening for SIGINT/SIGTERM. The listeners stay installed until
 * disposal, so repeated signals during a graceful shutdown are absorbed
 * instead of killing the process halfway (and leaving the embedded Postgres
 * running). A third distinct signal forces the exit, with a message.
 *
 * @example
 * ```ts
 * using signals = listenForShutdown({ log });
 * // ... start serving ...
 * const signal = await signals.received;
 * ```
 */
export function listenForShutdown(options: ShutdownOptions): ShutdownSignals {
  const { log, exit = Deno.exit, now = performance.now.bind(performance) } = options;
  let resolve!: (signal: Deno.Signal) => void;
  const received = new Promise<Deno.Signal>((r) => resolve = r);
  let requests = 0;
  let last = -Infinity;
  const handlers = SIGNALS.map((signal) => {
    const handler = () => {
      const at = now();
      const repeat = at - last < REPEAT_WINDOW_MS;
      last = at;
      if (repeat) return;
      requests++;
      if (requests === 1) {
        resolve(signal);
      } else if (requests < FORCE_AFTER) {
        log.warn(
          `${signal} received again; still shutting down gracefully. ` +
            `Send it once more to force the exit`,
        );
      } else {
        log.error(
          `${signal} received ${requests} times; forcing the exit now. An embedded Postgres ` +
            `is asked to stop on the way out; one still running is adopted by the next start`,
        );
        exit(FORCED_EXIT_CODE);
      }
    };
    return [signal, handler] as const;
  });
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  return {
    received,
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}
