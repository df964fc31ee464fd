/**
 * A small OTLP/HTTP receiver: accepts traces, logs and metrics (protobuf or
 * JSON, optionally gzipped) on the standard paths, decodes them, and keeps or
 * hands them on. `deno task traces` prints with it; the tracing tests collect
 * what Deno exports with it.
 *
 * @module
 */
import {
  type Decoded,
  decodeExport,
  type OtlpLog,
  type OtlpMetric,
  type OtlpSpan,
} from "./decode.ts";

/** Options for {@link startReceiver}. */
export interface ReceiverOptions {
  /** Default 4318, OTLP/HTTP's port; 0 picks a free one. */
  port?: number;
  hostname?: string;
  /** Called with what each request carried. */
  onExport?: (decoded: Decoded) => void;
  /** Keep everything received (spans, logs, metrics and the raw bodies) on the receiver. */
  keep?: boolean;
  /** Told about requests that could not be decoded. */
  onError?: (error: unknown) => void;
}

/** A running receiver. */
export interface Receiver {
  /** `http://host:port`, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  url: string;
  port: number;
  /** Export requests received, decodable or not. */
  requests: number;
  spans: OtlpSpan[];
  logs: OtlpLog[];
  metrics: OtlpMetric[];
  /** Every request body received (decompressed), for scanning. */
  bodies: Uint8Array[];
  close(): Promise<void>;
}

const SIGNALS = { "/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics" } as const;

/**
 * Starts a receiver.
 *
 * @example
 * ```ts
 * const receiver = startReceiver({ port: 0, keep: true });
 * // run something with OTEL_DENO=true OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.url}
 * await receiver.close();
 * ```
 */
export function startReceiver(options: ReceiverOptions = {}): Receiver {
  const hostname = options.hostname ?? "127.0.0.1";
  const receiver: Receiver = {
    url: "",
    port: 0,
    requests: 0,
    spans: [],
    logs: [],
    metrics: [],
    bodies: [],
    close: () => server.shutdown(),
  };
  const server = Deno.serve(
    { port: options.port ?? 4318, hostname, onListen() {} },
    async (request) => {
      const signal = SIGNALS[new URL(request.url).pathname as keyof typeof SIGNALS];
      if (request.method !== "POST" || signal === undefined) {
        return new Response("OTLP/HTTP receiver: POST /v1/traces, /v1/logs or /v1/metrics\n", {
          status: 404,
        });
      }
      receiver.requests++;
      const json = (request.headers.get("content-type") ?? "").includes("json");
      try {
        const stream = request.headers.get("content-encoding") === "gzip"
          ? request.body?.pipeThrough(new DecompressionStream("gzip"))
          : request.body;
        const body = new Uint8Array(await new Response(stream).arrayBuffer());
        const decoded = decodeExport(signal, body, json);
        if (options.keep) {
          receiver.bodies.push(body);
          receiver.spans.push(...decoded.spans);
          receiver.logs.push(...decoded.logs);
          receiver.metrics.push(...decoded.metrics);
        }
        options.onExport?.(decoded);
      } catch (error) {
        options.onError?.(error);
        return new Response("could not decode the export request\n", { status: 400 });
      }
      // An empty success response: "{}" in JSON, zero bytes in protobuf.
      return json
        ? new Response("{}", { headers: { "content-type": "application/json" } })
        : new Response(new Uint8Array(), { headers: { "content-type": "application/x-protobuf" } });
    },
  );
  receiver.port = server.addr.port;
  receiver.url = `http://${hostname}:${server.addr.port}`;
  return receiver;
}
