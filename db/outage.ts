/**
 * Quiet logging through a database outage: the first failure that says "the
 * database is unavailable" is logged at warn, without a stack; the same
 * logger stays silent until failures have stopped for a while, so an outage
 * costs a line per process and place, not one per request, poll or retry.
 *
 * @module
 */
import { isDatabaseUnavailable } from "./client.ts";
import type { Logger } from "../lib/logging.ts";

/** Failures this far apart belong to different outages, and each is logged. */
export const OUTAGE_LOG_GAP_MS = 30_000;

/**
 * Returns `note(error, fields)`: true (and logged once per outage as
 * `message`) when `error` means the database is unavailable; false for any
 * other error, which the caller logs as it would.
 *
 * @example
 * ```ts
 * const outage = outageLogger(log, "job queue unavailable; retrying until it is back");
 * boss.on("error", (error) => outage(error) || log.error("job queue error", { error }));
 * ```
 */
export function outageLogger(
  log: Logger,
  message: string,
): (error: unknown, fields?: Record<string, unknown>) => boolean {
  let lastAt = -Infinity;
  return (error, fields) => {
    if (!isDatabaseUnavailable(error)) return false;
    const now = Date.now();
    if (now - lastAt > OUTAGE_LOG_GAP_MS) {
      log.warn(message, {
        ...fields,
        code: (error as { code?: unknown }).code,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    lastAt = now;
    return true;
  };
}
