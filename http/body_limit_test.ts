import assert from "node:assert/strict";
import { Hono } from "hono";
import { bodyLimit } from "./body_limit.ts";

function app() {
  const hono = new Hono();
  hono.use(bodyLimit(16, (c) => c.json({ detail: "too large" }, 413)));
  hono.post("/", async (c) => c.json({ got: await c.req.json() }));
  return hono;
}

/** A request whose `body` getter counts its reads (the handler's `json()` does not use it). */
function watched(body: BodyInit, headers: Record<string, string>) {
  const request = new Request("http://localhost/", { method: "POST", body, headers });
  const stream = request.body;
  let reads = 0;
  Object.defineProperty(request, "body", {
    get() {
      reads++;
      return stream;
    },
  });
  return { request, reads: () => reads };
}

Deno.test("with Content-Length the limit is decided without touching the body's stream", async () => {
  const small = watched('{"a":1}', { "Content-Length": "7", "Content-Type": "application/json" });
  const ok = await app().request(small.request);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { got: { a: 1 } });
  assert.equal(small.reads(), 0);

  const big = JSON.stringify({ a: "x".repeat(40) });
  const over = watched(big, { "Content-Length": String(big.length) });
  const refused = await app().request(over.request);
  assert.equal(refused.status, 413);
  await refused.body?.cancel();
  assert.equal(over.reads(), 0);
});

Deno.test("without Content-Length the body is counted as it is read", async () => {
  const chunks = ['{"a":', '"' + "x".repeat(40) + '"}'];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
  });
  const refused = await app().request(
    new Request("http://localhost/", { method: "POST", body: stream }),
  );
  assert.equal(refused.status, 413);
  await refused.body?.cancel();

  const fits = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"b":2}'));
      controller.close();
    },
  });
  const ok = await app().request(new Request("http://localhost/", { method: "POST", body: fits }));
  assert.deepEqual(await ok.json(), { got: { b: 2 } });
});
