/**
 * Structured logging: one JSON object per line, so logs can be grepped by
 * humans and parsed by machines without a library.
 *
 * @module
 */
import { traceIds } from "./telemetry.ts";

/** Log severity, lowest first. */
export type Level = "debug" | "info" | "warn" | "error";

/** Extra fields merged into the line. */
export type Fields = Record<string, unknown>;

/** A leveled JSON-lines logger. */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written; default `info`. */
  level?: Level;
  /** Where lines go; default stdout (errors and warnings to stderr). */
  write?: (line: string, level: Level) => void;
  /** Fields added to every line, e.g. `{ role: "api" }`. */
  base?: Fields;
  /** Add the active span's `trace_id` and `span_id` to lines written inside one (tracing on). */
  traceIds?: boolean;
  /**
   * Gather debug and info lines and write them to stdout together, at most
   * {@link FLUSH_MS} later (warnings and errors go at once, after them). A
   * `console.log` per request line costs a server a third of its throughput.
   * Lines are written on every exit but a crash of the runtime itself. Leave
   * it off while Deno exports `console` output as OTLP logs (`config.logsExported`):
   * it exports nothing else.
   */
  buffered?: boolean;
}

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

// console.warn, not console.error, for warnings: Deno's telemetry takes the severity from the call.
function defaultWrite(line: string, level: Level) {
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

// Short enough that a tail -f feels live; long enough that a busy server writes once per many
// requests. Past BUFFER_BYTES the lines go at once.
const FLUSH_MS = 20;
const BUFFER_BYTES = 64 * 1024;
const encoder = new TextEncoder();
let pending: string[] = [];
let pendingBytes = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

/** Writes the gathered lines to stdout now. */
export function flushLogs() {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  if (pending.length === 0) return;
  const bytes = encoder.encode(pending.join("\n") + "\n");
  pending = [];
  pendingBytes = 0;
  for (let offset = 0; offset < bytes.length;) {
    offset += Deno.stdout.writeSync(bytes.subarray(offset));
  }
}

function bufferedWrite(line: string, level: Level) {
  if (level === "warn" || level === "error") {
    flushLogs();
    return defaultWrite(line, level);
  }
  pending.push(line);
  pendingBytes += line.length + 1;
  if (pendingBytes >= BUFFER_BYTES) return flushLogs();
  if (timer === undefined) {
    const scheduled = setTimeout(flushLogs, FLUSH_MS);
    // The flush never keeps a process alive; exits flush through the unload event.
    Deno.unrefTimer(scheduled);
    timer = scheduled;
  }
}

let flushOnExit = false;

const quotedKeys = new Map<string, string>();

/** `JSON.stringify(key)`, remembered: lines repeat the same few keys. */
function quoted(key: string): string {
  let text = quotedKeys.get(key);
  if (text === undefined) {
    text = JSON.stringify(key);
    if (quotedKeys.size < 1000) quotedKeys.set(key, text);
  }
  return text;
}

let second = NaN;
let secondText = "";

/**
 * `new Date().toISOString()`, from the current second's text kept between
 * calls: a server logs thousands of lines a second, and formatting a date
 * each time was about a quarter of the line's cost.
 */
export function isoNow(now = Date.now()): string {
  const ms = now % 1000;
  if (now - ms !== second) {
    second = now - ms;
    secondText = new Date(second).toISOString().slice(0, 20); // up to the point: 2026-01-02T03:04:05.
  }
  return `${secondText}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
}

/** Errors do not survive JSON.stringify; keep what an operator needs. */
function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, code, stack: value.stack };
  }
  return value;
}

/**
 * Creates a logger writing JSON lines.
 *
 * @example
 * ```ts
 * const log = createLogger({ base: { role: "api" } });
 * log.info("listening", { port: 8000 });
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  if (options.buffered && !flushOnExit) {
    flushOnExit = true;
    globalThis.addEventListener("unload", flushLogs);
  }
  const write = options.write ?? (options.buffered ? bufferedWrite : defaultWrite);
  const base = options.base ?? {};
  const baseKeys = Object.keys(base);
  const head = new Set(["time", "level", "msg", ...baseKeys]);
  // The line is written as text when its keys are plain: no base or field key repeats one
  // before it (in an object it would take the earlier one's place), no trace ids to merge.
  const asText = !options.traceIds && head.size === 3 + baseKeys.length;
  const baseText = JSON.stringify(base).slice(1, -1);
  function text(level: Level, msg: string, fields: Fields | undefined): string | undefined {
    let line = `{"time":"${isoNow()}","level":"${level}","msg":${JSON.stringify(msg)}`;
    if (baseText !== "") line += `,${baseText}`;
    if (fields !== undefined) {
      for (const key of Object.keys(fields)) {
        if (head.has(key)) return undefined;
        // As JSON.stringify leaves out a property whose value has no JSON (undefined, a function).
        const value = JSON.stringify(serialise(fields[key]));
        if (value !== undefined) line += `,${quoted(key)}:${value}`;
      }
    }
    return `${line}}`;
  }
  function object(level: Level, msg: string, fields: Fields | undefined): string {
    const line: Fields = { time: isoNow(), level, msg, ...base };
    if (options.traceIds) Object.assign(line, traceIds());
    for (const [key, value] of Object.entries(fields ?? {})) line[key] = serialise(value);
    return JSON.stringify(line);
  }
  function emit(level: Level, msg: string, fields?: Fields) {
    if (ORDER[level] < min) return;
    write((asText ? text(level, msg, fields) : undefined) ?? object(level, msg, fields), level);
  }
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}
