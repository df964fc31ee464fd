/**
 * OTLP export requests (traces, logs, metrics), as OTLP/HTTP sends them in
 * protobuf or JSON, decoded into one plain shape for printing and tests.
 *
 * @module
 */
import {
  all,
  bytesOf,
  doubleOf,
  type Fields,
  fields,
  fixed64Of,
  hex,
  numberOf,
  stringOf,
} from "./_protobuf.ts";

/** Attribute values as OTLP carries them. */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | {
  [key: string]: AttributeValue;
};

/** A finished span. */
export interface OtlpSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  events: { name: string; attributes: Record<string, AttributeValue> }[];
}

/** A log record. */
export interface OtlpLog {
  service: string;
  severity: string;
  body: AttributeValue;
  /** "" when written outside a span. */
  traceId: string;
  spanId: string;
}

/** A metric (its name is all the printer and tests need). */
export interface OtlpMetric {
  service: string;
  scope: string;
  name: string;
}

/** What one request carried. */
export type Signal = "traces" | "logs" | "metrics";

/** The decoded content of one export request. */
export interface Decoded {
  spans: OtlpSpan[];
  logs: OtlpLog[];
  metrics: OtlpMetric[];
}

/** Decodes one export request body of `signal`, in JSON or protobuf. */
export function decodeExport(signal: Signal, body: Uint8Array, json: boolean): Decoded {
  const out: Decoded = { spans: [], logs: [], metrics: [] };
  if (json) fromJson(signal, JSON.parse(new TextDecoder().decode(body) || "{}"), out);
  else fromProtobuf(signal, fields(body), out);
  return out;
}

// ---- protobuf (field numbers from opentelemetry-proto) ----

function anyValue(message: Fields): AttributeValue {
  if (message.has(1)) return stringOf(message, 1);
  if (message.has(2)) return numberOf(message, 2) !== 0;
  if (message.has(3)) return numberOf(message, 3);
  if (message.has(4)) return doubleOf(message, 4);
  if (message.has(5)) return all(fields(bytesOf(message, 5)!), 1).map((v) => anyValue(fields(v)));
  if (message.has(6)) return keyValues(all(fields(bytesOf(message, 6)!), 1));
  if (message.has(7)) return hex(bytesOf(message, 7));
  return null;
}

function keyValues(list: Uint8Array[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list.map(fields)) {
    const value = bytesOf(kv, 2);
    out[stringOf(kv, 1)] = value ? anyValue(fields(value)) : null;
  }
  return out;
}

function serviceOf(resource: Uint8Array | undefined): string {
  const attributes = resource ? keyValues(all(fields(resource), 1)) : {};
  return String(attributes["service.name"] ?? "");
}

function fromProtobuf(signal: Signal, request: Fields, out: Decoded) {
  for (const top of all(request, 1).map(fields)) {
    const service = serviceOf(bytesOf(top, 1));
    for (const scoped of all(top, 2).map(fields)) {
      const scopeBytes = bytesOf(scoped, 1);
      const scope = scopeBytes ? stringOf(fields(scopeBytes), 1) : "";
      for (const item of all(scoped, 2).map(fields)) {
        if (signal === "traces") out.spans.push(spanFromProtobuf(item, service, scope));
        else if (signal === "logs") {
          const body = bytesOf(item, 5);
          out.logs.push({
            service,
            severity: stringOf(item, 3),
            body: body ? anyValue(fields(body)) : null,
            traceId: hex(bytesOf(item, 9)),
            spanId: hex(bytesOf(item, 10)),
          });
        } else out.metrics.push({ service, scope, name: stringOf(item, 1) });
      }
    }
  }
}

function spanFromProtobuf(span: Fields, service: string, scope: string): OtlpSpan {
  const status = bytesOf(span, 15);
  const statusFields = status ? fields(status) : new Map();
  return {
    service,
    scope,
    traceId: hex(bytesOf(span, 1)),
    spanId: hex(bytesOf(span, 2)),
    parentSpanId: hex(bytesOf(span, 4)),
    name: stringOf(span, 5),
    kind: numberOf(span, 6),
    startNs: fixed64Of(span, 7),
    endNs: fixed64Of(span, 8),
    attributes: keyValues(all(span, 9)),
    status: { code: numberOf(statusFields, 3), message: stringOf(statusFields, 2) },
    events: all(span, 11).map(fields).map((e) => ({
      name: stringOf(e, 2),
      attributes: keyValues(all(e, 3)),
    })),
  };
}

// ---- JSON (OTLP/JSON: lowerCamelCase fields, hex ids, 64-bit integers as strings) ----

interface JsonKeyValue {
  key: string;
  value?: JsonAnyValue;
}
interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
  kvlistValue?: { values?: JsonKeyValue[] };
  bytesValue?: string;
}
// deno-lint-ignore no-explicit-any -- an OTLP/JSON document, walked defensively below
type Json = any;

function jsonValue(value: JsonAnyValue | undefined): AttributeValue {
  if (value === undefined) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(jsonValue);
  if (value.kvlistValue !== undefined) return jsonAttributes(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return null;
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
}

function fromJson(signal: Signal, request: Json, out: Decoded) {
  const [topKey, scopedKey, itemKey] = {
    traces: ["resourceSpans", "scopeSpans", "spans"],
    logs: ["resourceLogs", "scopeLogs", "logRecords"],
    metrics: ["resourceMetrics", "scopeMetrics", "metrics"],
  }[signal];
  for (const top of request?.[topKey!] ?? []) {
    const service = String(jsonAttributes(top.resource?.attributes)["service.name"] ?? "");
    for (const scoped of top[scopedKey!] ?? []) {
      const scope = String(scoped.scope?.name ?? "");
      for (const item of scoped[itemKey!] ?? []) {
        if (signal === "traces") {
          out.spans.push({
            service,
            scope,
            traceId: String(item.traceId ?? ""),
            spanId: String(item.spanId ?? ""),
            parentSpanId: String(item.parentSpanId ?? ""),
            name: String(item.name ?? ""),
            kind: Number(item.kind ?? 0),
            startNs: BigInt(item.startTimeUnixNano ?? 0),
            endNs: BigInt(item.endTimeUnixNano ?? 0),
            attributes: jsonAttributes(item.attributes),
            status: { code: Number(item.status?.code ?? 0), message: item.status?.message ?? "" },
            events: (item.events ?? []).map((e: Json) => ({
              name: String(e.name ?? ""),
              attributes: jsonAttributes(e.attributes),
            })),
          });
        } else if (signal === "logs") {
          out.logs.push({
            service,
            severity: String(item.severityText ?? ""),
            body: jsonValue(item.body),
            traceId: String(item.traceId ?? ""),
            spanId: String(item.spanId ?? ""),
          });
        } else out.metrics.push({ service, scope, name: String(item.name ?? "") });
      }
    }
  }
}
