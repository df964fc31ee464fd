/**
 * A handler's own log: every line it writes through its context's `log` goes to the process's
 * log as before, and is also kept (bounded, secrets redacted) to be saved with the attempt.
 *
 * @module
 */
import type { JobLog, JobLogLine } from "../db/job_logs.ts";
import type { Fields, Level, Logger } from "../lib/logging.ts";
import { CREDENTIAL_KEY, redact } from "../lib/redact.ts";

// Enough for a handler's story; a handler logging in a loop must not fill the table.
const MAX_LINES = 100;
const MAX_BYTES = 16 * 1024;

// An email's text body carries its links (a reset link among them) as well as its HTML.
const JOB_SECRET = new RegExp(`${CREDENTIAL_KEY.source}|text`, "i");

/** `value` with every secret-looking key's value replaced by "[redacted]", at any depth. */
export function redactSecrets(value: unknown): unknown {
  return redact(value, { key: JOB_SECRET, replacement: "[redacted]" });
}

/** A logger for one attempt, and what it kept. */
export interface AttemptLog {
  log: Logger;
  /** The kept lines as an attempt's log, or undefined when the handler logged nothing. */
  taken(): JobLog | undefined;
}

/** Wraps `base` for attempt `attempt`: lines go to `base` and are kept, up to the bounds. */
export function attemptLog(base: Logger, attempt: number): AttemptLog {
  const lines: JobLogLine[] = [];
  let bytes = 0;
  let truncated = 0;
  const keep = (level: Level) => (msg: string, fields?: Fields) => {
    base[level](msg, fields);
    const line: JobLogLine = {
      at: new Date().toISOString(),
      level,
      msg,
      ...(fields ? { fields: redactSecrets(fields) as Record<string, unknown> } : {}),
    };
    const size = JSON.stringify(line).length;
    if (lines.length >= MAX_LINES || bytes + size > MAX_BYTES) {
      truncated++;
      return;
    }
    lines.push(line);
    bytes += size;
  };
  return {
    log: { debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") },
    taken: () => lines.length + truncated === 0 ? undefined : { attempt, lines, truncated },
  };
}
