/**
 * Finished traces as indented trees with durations, for reading in a
 * terminal: what `deno task traces` prints.
 *
 * @module
 */
import type { AttributeValue, OtlpSpan } from "./decode.ts";

const KINDS = ["", "", "server", "client", "producer", "consumer"];

// The attributes worth a glance on one line, in this order.
const SHOWN = [
  "http.response.status_code",
  "tusk.request_id",
  "db.query.text",
  "db.response.returned_rows",
  "db.response.status_code",
  "messaging.message.id",
  "tusk.job.attempt",
  "tusk.job.outcome",
  "email.template",
  "smtp.response.code",
];
const MAX_VALUE = 90;

function show(value: AttributeValue): string {
  const text = typeof value === "string"
    ? value.replace(/\s+/g, " ").trim()
    : JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

function line(span: OtlpSpan, depth: number, withService: boolean): string {
  const ms = Number(span.endNs - span.startNs) / 1e6;
  const parts = [`${"  ".repeat(depth)}${span.name}`, `${ms.toFixed(1)} ms`];
  const kind = KINDS[span.kind];
  if (kind) parts.push(kind);
  if (withService && span.service) parts.push(`[${span.service}]`);
  const details = SHOWN.filter((key) => span.attributes[key] !== undefined)
    .map((key) => `${key}=${show(span.attributes[key]!)}`);
  if (span.status.code === 2) details.push(`ERROR ${show(span.status.message)}`);
  return [...parts, ...details].join("  ");
}

/**
 * One trace as a tree: spans under their parents, siblings by start time. A
 * span whose parent is not among `spans` (a caller's, or not yet received)
 * is shown as a root.
 */
export function formatTrace(spans: OtlpSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, OtlpSpan[]>();
  const roots: OtlpSpan[] = [];
  for (const span of spans) {
    if (span.parentSpanId && ids.has(span.parentSpanId)) {
      const list = children.get(span.parentSpanId) ?? [];
      list.push(span);
      children.set(span.parentSpanId, list);
    } else roots.push(span);
  }
  const byStart = (a: OtlpSpan, b: OtlpSpan) => (a.startNs < b.startNs ? -1 : 1);
  const services = new Set(spans.map((s) => s.service));
  const lines: string[] = [];
  function walk(span: OtlpSpan, depth: number) {
    lines.push(line(span, depth, services.size > 1 || depth === 0));
    for (const child of (children.get(span.spanId) ?? []).sort(byStart)) walk(child, depth + 1);
  }
  for (const root of roots.sort(byStart)) walk(root, 1);
  return `trace ${spans[0]?.traceId ?? "?"} (${spans.length} spans)\n${lines.join("\n")}`;
}

/**
 * Collects spans by trace and hands each trace on once no span of it has
 * arrived for `quietMs` (a trace crossing processes arrives in several
 * exports). Spans arriving after their trace was printed print as a
 * continuation.
 */
export function traceCollector(print: (text: string) => void, quietMs = 2000) {
  const pending = new Map<
    string,
    { spans: OtlpSpan[]; timer: ReturnType<typeof setTimeout> | undefined }
  >();
  function flush(traceId: string) {
    const entry = pending.get(traceId);
    if (!entry) return;
    pending.delete(traceId);
    clearTimeout(entry.timer);
    print(formatTrace(entry.spans));
  }
  return {
    add(spans: OtlpSpan[]) {
      for (const span of spans) {
        const entry = pending.get(span.traceId) ?? { spans: [], timer: undefined };
        clearTimeout(entry.timer);
        entry.spans.push(span);
        entry.timer = setTimeout(() => flush(span.traceId), quietMs);
        pending.set(span.traceId, entry);
      }
    },
    /** Prints every trace still waiting. */
    flushAll() {
      for (const traceId of [...pending.keys()]) flush(traceId);
    },
  };
}
