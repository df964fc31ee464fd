/**
 * The floors `bench:http` measures Tusk against: a hello-world `Deno.serve`
 * and a hello-world Hono app, on the port given.
 *
 * Usage: deno run --allow-net bench/_floor.ts deno|hono PORT
 *
 * @module
 */
import { Hono } from "hono";

if (import.meta.main) {
  const [kind, port] = Deno.args;
  const hono = new Hono().get("/", (c) => c.text("Hello, world"));
  const handler = kind === "hono"
    ? hono.fetch
    : () => new Response("Hello, world", { headers: { "content-type": "text/plain" } });
  Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, handler);
}
