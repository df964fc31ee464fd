import assert from "node:assert/strict";
import { isTrusted } from "./client_address.ts";

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
  assert.equal(isTrusted("2001:db8::9", ["*"]), true);
});
