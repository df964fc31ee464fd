/**
 * The floors `bench:http` measures Tusk against, on the port given: a
 * hello-world `Deno.serve`, the same answering JSON with the headers Tusk
 * puts on every answer (`headers`), and a hello-world Hono app.
 *
 * Usage: deno run --allow-net bench/_floor.ts deno|headers|hono PORT
 *
 * @module
 */
import { Hono } from "hono";
import { answerHeaders, REQUEST_ID_HEADER } from "../http/edge.ts";

if (import.meta.main) {
  const [kind, port] = Deno.args;
  const hono = new Hono().get("/", (c) => c.text("Hello, world"));
  // As Tusk answers in production (HSTS on), with its request id and Vary.
  const headers = answerHeaders({
    exposeHeaders: [REQUEST_ID_HEADER, "Idempotent-Replayed"], // as app.ts exposes them
    strictTransportSecurity: "max-age=31536000; includeSubDomains",
  });
  const withHeaders = () => {
    const res = Response.json({ status: "ok" });
    for (const [name, value] of headers) res.headers.set(name, value);
    res.headers.set("Vary", "Origin");
    res.headers.set(REQUEST_ID_HEADER, crypto.randomUUID());
    return res;
  };
  const handler = kind === "hono"
    ? hono.fetch
    : kind === "headers"
    ? withHeaders
    : () => new Response("Hello, world", { headers: { "content-type": "text/plain" } });
  Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, handler);
}
