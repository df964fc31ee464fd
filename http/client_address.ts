/**
 * The client's IP address: the socket peer, unless that peer is a trusted
 * proxy, in which case the nearest untrusted hop of `X-Forwarded-For`.
 *
 * @module
 */
import type { Context } from "hono";
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** An address with IPv4-mapped IPv6 (`::ffff:10.0.0.1`) unwrapped, or undefined if invalid. */
function parse(ip: string): Address | undefined {
  return ipaddr.isValid(ip) ? ipaddr.process(ip) : undefined;
}

function matches(addr: Address, entry: string): boolean {
  if (!entry.includes("/")) return parse(entry)?.toNormalizedString() === addr.toNormalizedString();
  if (!ipaddr.isValidCIDR(entry)) return false;
  const range = ipaddr.parseCIDR(entry);
  return addr.kind() === range[0].kind() && addr.match(range);
}

/**
 * Whether `ip` matches an entry: an exact address, or a CIDR range, IPv4 or
 * IPv6 (`10.0.0.0/8`, `fd00::/8`).
 */
export function isTrusted(ip: string, trusted: string[]): boolean {
  const addr = parse(ip);
  if (addr === undefined) return false;
  return trusted.some((entry) => matches(addr, entry));
}

/**
 * The address to throttle by. Without a socket (in-process tests that pass
 * none) it is `unknown`, which still counts as one client.
 */
export function clientAddress(c: Context, trusted: string[]): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const peer = info?.remoteAddr?.hostname ?? "unknown";
  if (trusted.length === 0 || !isTrusted(peer, trusted)) return peer;
  // Only addresses count: anything else in the header is a client's text, never a key.
  const hops = (c.req.header("X-Forwarded-For") ?? "").split(",")
    .map((h) => parse(h.trim())?.toString())
    .filter((h) => h !== undefined);
  // Walk from the nearest hop back: the first one we do not trust is the client.
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!isTrusted(hops[i]!, trusted)) return hops[i]!;
  }
  return hops[0] ?? peer;
}
