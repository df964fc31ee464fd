/**
 * `tusk traces`: a local OTLP/HTTP receiver that prints each finished trace
 * as a tree with durations, for development (`deno task traces`).
 *
 * @module
 */
import { createLogger } from "../lib/logging.ts";
import { startReceiver } from "../lib/otlp/receiver.ts";
import { traceCollector } from "../lib/otlp/tree.ts";
import { listenForShutdown } from "../lib/signals.ts";
import { parse, UsageError } from "./_io.ts";

const USAGE = `Usage: tusk traces [--port N] [--host H]     (deno task traces)

Receives OpenTelemetry over OTLP/HTTP (protobuf or JSON) and prints each
trace as an indented tree with durations once it has been quiet for 2 s.
Logs and metrics are accepted and counted, not printed.

Options:
  --port N   port to listen on (default 4318, the OTLP/HTTP port)
  --host H   address to listen on (default 127.0.0.1)

Then, in another terminal:
  OTEL_DENO=true deno task dev`;

/** Runs the receiver until SIGINT/SIGTERM; returns the exit code. */
export async function tracesCommand(args: string[]): Promise<number> {
  const parsed = parse(args, {
    usage: USAGE,
    options: {
      port: { type: "string" },
      host: { type: "string" },
    },
    min: 0,
    max: 0,
  });
  if (parsed === undefined) return 0;
  const port = Number(parsed.values.port ?? 4318);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(
      `--port: expected a port number from 0 to 65535, got ${parsed.values.port}`,
    );
  }
  using signals = listenForShutdown({ log: createLogger({ level: "warn" }) });
  const collector = traceCollector((text) => console.log(`${text}\n`));
  let logs = 0;
  let metrics = 0;
  let receiver;
  try {
    receiver = startReceiver({
      port,
      hostname: parsed.values.host ?? "127.0.0.1",
      onExport(decoded) {
        collector.add(decoded.spans);
        logs += decoded.logs.length;
        metrics += decoded.metrics.length;
      },
      onError: (error) => console.error(`could not decode an export request: ${error}`),
    });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`port ${port} is in use (another receiver or collector?); try --port`);
    }
    throw error;
  }
  console.log(
    `Receiving OTLP/HTTP on ${receiver.url} (traces print when finished; Ctrl-C stops).\n` +
      `Send to it with: OTEL_DENO=true OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.url} deno task dev\n`,
  );
  await signals.received;
  collector.flushAll();
  await receiver.close();
  console.log(`Stopped. Also received ${logs} log records and ${metrics} metric points.`);
  return 0;
}
