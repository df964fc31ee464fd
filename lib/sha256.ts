/**
 * The first 32 bits of SHA-256, synchronously and fast: feature flag buckets
 * hash a short string per evaluation, and `node:crypto`'s `createHash()`
 * costs several microseconds a call in Deno, most of it outside the hashing.
 * Tested against `node:crypto` (`sha256_test.ts`).
 *
 * @module
 */

const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const encoder = new TextEncoder();
const w = new Uint32Array(64);
// Reused between calls (hashing is synchronous): no allocation for the usual short key.
let buffer = new Uint8Array(128);

/** Writes `text` as UTF-8 into `buffer` (grown when needed); returns its length in bytes. */
function encode(text: string): number {
  const n = text.length;
  if (buffer.length < n * 3 + 72) buffer = new Uint8Array(n * 3 + 72);
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(i);
    // Anything beyond ASCII: the encoder's UTF-8.
    if (code > 0x7f) return encoder.encodeInto(text, buffer).written;
    buffer[i] = code;
  }
  return n;
}

/**
 * The first four bytes of SHA-256 of `text` (as UTF-8), as an unsigned
 * big-endian integer: what `digest().readUInt32BE(0)` gives.
 *
 * @example
 * ```ts
 * sha256Head("FF_NEW/user-1") % 10000; // the subject's bucket
 * ```
 */
export function sha256Head(text: string): number {
  const length = encode(text);
  const blocks = Math.ceil((length + 9) / 64);
  const end = blocks * 64;
  const m = buffer;
  m.fill(0, length, end);
  m[length] = 0x80;
  const bits = length * 8;
  const high = Math.floor(bits / 2 ** 32);
  m[end - 8] = high >>> 24;
  m[end - 7] = high >>> 16;
  m[end - 6] = high >>> 8;
  m[end - 5] = high;
  m[end - 4] = bits >>> 24;
  m[end - 3] = bits >>> 16;
  m[end - 2] = bits >>> 8;
  m[end - 1] = bits;

  let h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
  let h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  for (let block = 0; block < blocks; block++) {
    for (let i = 0, j = block * 64; i < 16; i++, j += 4) {
      w[i] = (m[j]! << 24) | (m[j + 1]! << 16) | (m[j + 2]! << 8) | m[j + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  return h0 >>> 0;
}
