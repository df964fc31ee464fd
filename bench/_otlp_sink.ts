/**
 * An OTLP/HTTP endpoint that reads each export request and discards it, so
 * the tracing benchmark measures the exporting process, not a collector.
 * Prints what it received when stopped (SIGTERM).
 *
 * Usage: deno run --allow-net bench/_otlp_sink.ts PORT
 *
 * @module
 */
const port = Number(Deno.args[0] ?? 4318);
let requests = 0;
let bytes = 0;
const server = Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (request) => {
  bytes += (await request.arrayBuffer()).byteLength;
  requests++;
  return new Response(new Uint8Array(), { headers: { "content-type": "application/x-protobuf" } });
});
Deno.addSignalListener("SIGTERM", async () => {
  await server.shutdown();
  console.log(`${requests} export requests, ${(bytes / 1e6).toFixed(1)} MB`);
  Deno.exit(0);
});
