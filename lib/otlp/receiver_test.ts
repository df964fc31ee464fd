import assert from "node:assert/strict";
import type { OtlpSpan } from "./decode.ts";
import { startReceiver } from "./receiver.ts";
import { formatTrace } from "./tree.ts";

function span(name: string, spanId: string, parentSpanId: string, startMs: number): OtlpSpan {
  return {
    service: "tusk-api",
    scope: "tusk",
    traceId: "t1",
    spanId,
    parentSpanId,
    name,
    kind: 1,
    startNs: BigInt(startMs) * 1_000_000n,
    endNs: BigInt(startMs + 2) * 1_000_000n,
    attributes: {},
    status: { code: 0, message: "" },
    events: [],
  };
}

Deno.test("formatTrace() nests spans under their parents, siblings by start time; orphans are roots", () => {
  const text = formatTrace([
    span("second child", "c2", "root", 5),
    span("root", "root", "", 0),
    span("first child", "c1", "root", 1),
    span("grandchild", "g1", "c1", 2),
    span("orphan", "o1", "missing", 3),
  ]);
  assert.equal(
    text.split("\n").map((l) => l.replace(/ {2}\d.*$/, "")).join("\n"),
    [
      "trace t1 (5 spans)",
      "  root",
      "    first child",
      "      grandchild",
      "    second child",
      "  orphan",
    ].join("\n"),
  );
});

Deno.test("the receiver decodes gzipped JSON, refuses what it cannot decode, and names its paths", async () => {
  const receiver = startReceiver({ port: 0, keep: true });
  try {
    const body = JSON.stringify({
      resourceSpans: [{
        resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
        scopeSpans: [{
          scope: { name: "s" },
          spans: [{
            traceId: "ab",
            spanId: "cd",
            name: "GET /x",
            kind: 2,
            startTimeUnixNano: "1000",
            endTimeUnixNano: "3000",
            attributes: [{ key: "n", value: { intValue: "7" } }],
          }],
        }],
      }],
    });
    const gzipped = await new Response(
      new Blob([body]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer();
    const ok = await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: gzipped,
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.deepEqual(
      receiver.spans.map((s) => [s.service, s.name, s.kind, s.endNs - s.startNs, s.attributes.n]),
      [["svc", "GET /x", 2, 2000n, 7]],
    );

    const garbage = await fetch(`${receiver.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf" },
      body: new Uint8Array([0x0a, 0xff, 0xff]), // a length longer than the body
    });
    assert.equal(garbage.status, 400);
    await garbage.body?.cancel();

    const elsewhere = await fetch(`${receiver.url}/v1/other`, { method: "POST", body: "x" });
    assert.equal(elsewhere.status, 404);
    await elsewhere.body?.cancel();
    assert.equal(receiver.requests, 2);
  } finally {
    await receiver.close();
  }
});
