/**
 * The client's IP address: the socket peer, unless that peer is a trusted
 * proxy, in which case the nearest untrusted hop of `X-Forwarded-For`.
 *
 * @module
 */
import type { Context } from "hono";

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    const v = Number(part);
    if (!/^\d{1,3}$/.test(part) || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** Whether `ip` matches an entry: `*`, an exact address, or an IPv4 CIDR. */
export function isTrusted(ip: string, trusted: string[]): boolean {
  const bare = ip.replace(/^::ffff:/, "");
  return trusted.some((entry) => {
    if (entry === "*") return true;
    const [base, bits] = entry.split("/");
    if (bits === undefined) return base === bare || base === ip;
    const addr = ipv4ToInt(bare);
    const net = ipv4ToInt(base!);
    const prefix = Number(bits);
    if (addr === undefined || net === undefined || prefix > 32) return false;
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    return ((addr & mask) >>> 0) === ((net & mask) >>> 0);
  });
}

/**
 * The address to throttle by. Without a socket (in-process tests that pass
 * none) it is `unknown`, which still counts as one client.
 */
export function clientAddress(c: Context, trusted: string[]): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const peer = info?.remoteAddr?.hostname ?? "unknown";
  if (trusted.length === 0 || !isTrusted(peer, trusted)) return peer;
  const hops = (c.req.header("X-Forwarded-For") ?? "").split(",").map((h) => h.trim()).filter(
    Boolean,
  );
  // Walk from the nearest hop back: the first one we do not trust is the client.
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!isTrusted(hops[i]!, trusted)) return hops[i]!;
  }
  return hops[0] ?? peer;
}
