import assert from "node:assert/strict";
import { Hono } from "hono";
import { clientAddress, isTrusted } from "./client_address.ts";

Deno.test("isTrusted() matches IPv4 and IPv6 addresses and ranges", () => {
  const trusted = ["10.0.0.0/8", "192.168.1.7", "fd00::/8", "2001:db8::1"];
  for (const ip of ["10.1.2.3", "::ffff:10.9.9.9", "192.168.1.7", "fd00::1", "fdab:1::5"]) {
    assert.equal(isTrusted(ip, trusted), true, ip);
  }
  assert.equal(isTrusted("2001:db8:0:0:0:0:0:1", trusted), true, "any spelling of an address");
  for (const ip of ["11.0.0.1", "192.168.1.8", "fe80::1", "2001:db8::2", "::1", "nonsense", ""]) {
    assert.equal(isTrusted(ip, trusted), false, ip);
  }
  assert.equal(isTrusted("::1", ["::1/128"]), true);
  assert.equal(isTrusted("127.0.0.1", ["::/0"]), false, "an IPv6 range never matches IPv4");
  assert.equal(isTrusted("2001:db8::9", ["*"]), false, "* is no address (config refuses it)");
});

Deno.test("clientAddress() behind a trusted proxy skips X-Forwarded-For hops that are no address", async () => {
  const app = new Hono();
  app.get("/", (c) => c.text(clientAddress(c, ["10.0.0.0/8"])));
  const from = async (peer: string, forwarded?: string) => {
    const headers: Record<string, string> = forwarded ? { "X-Forwarded-For": forwarded } : {};
    const res = await app.request("/", { headers }, { remoteAddr: { hostname: peer } });
    return await res.text();
  };
  assert.equal(await from("10.0.0.2", "203.0.113.9, 10.0.0.7"), "203.0.113.9");
  // Junk a client wrote is not its key: the nearest real address before the proxy is.
  assert.equal(await from("10.0.0.2", "198.51.100.4, anything-at-all, 10.0.0.7"), "198.51.100.4");
  assert.equal(await from("10.0.0.2", "not-an-ip"), "10.0.0.2");
  assert.equal(await from("10.0.0.2", "::ffff:203.0.113.5"), "203.0.113.5");
  assert.equal(await from("198.51.100.1", "203.0.113.9"), "198.51.100.1", "an untrusted peer");
});
