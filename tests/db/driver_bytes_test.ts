/**
 * The vendored driver's message builder (vendor/postgres/src/bytes.js,
 * changed from the published package: ASCII and integers written byte by
 * byte, messages written one after another into a slab and handed out as
 * views of it, joined without a copy when side by side). Checked against
 * messages encoded here by hand: strings ASCII or not, messages longer than
 * a slab, and earlier messages left intact by every later one.
 */
import assert from "node:assert/strict";
// @ts-types="./_bytes.d.ts"
import b, { join } from "../../vendor/postgres/src/bytes.js";
import { seeded } from "../_random.ts";

const encoder = new TextEncoder();

/** A copy as a plain Uint8Array: the builder hands out Buffers, compared here by their bytes. */
const plain = (x: Uint8Array) => Uint8Array.from(x);

/** A protocol message by hand: type byte, length (itself included), body. */
function message(type: string, ...parts: Uint8Array[]): Uint8Array {
  const length = 4 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(1 + length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setUint32(1, length);
  let at = 5;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const int16 = (x: number) => new Uint8Array([x >>> 8 & 255, x & 255]);
const int32 = (x: number) => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, x >>> 0);
  return out;
};
const cstr = (s: string) => encoder.encode(s + "\0");

/** A Bind message as the driver builds it (connection.js, Bind()), with text values. */
function bind(statement: string, values: (string | null)[]): Uint8Array {
  b().B().str("" + b.N).str(statement + b.N).i16(0).i16(values.length);
  for (const value of values) {
    if (value === null) {
      b.i32(0xFFFFFFFF);
      continue;
    }
    const prev = b.i;
    b.inc(4).str(value).i32(b.i - prev - 4, prev);
  }
  b.i16(0);
  return b.end();
}

function expectedBind(statement: string, values: (string | null)[]): Uint8Array {
  const parts = [cstr(""), cstr(statement), int16(0), int16(values.length)];
  for (const value of values) {
    if (value === null) parts.push(int32(0xFFFFFFFF));
    else {
      const bytes = encoder.encode(value);
      parts.push(int32(bytes.length), bytes);
    }
  }
  parts.push(int16(0));
  return message("B", ...parts);
}

const VALUES: (string | null)[][] = [
  [],
  ["plain ascii", null, "42"],
  ["é at the start", "in the middle: ü and 😀", "ascii then 日本語"],
  ["x".repeat(70_000)], // longer than a slab
  [JSON.stringify({ id: crypto.randomUUID(), metadata: { route: "/api/v1/items", note: "ß" } })],
];

Deno.test("messages match the protocol, ASCII or not, short or longer than a slab", () => {
  for (const values of VALUES) {
    assert.deepEqual(plain(bind("s1", values)), expectedBind("s1", values));
  }
  const query = "select 'ünïcode', 1";
  assert.deepEqual(plain(b().Q().str(query + b.N).end()), message("Q", cstr(query)));
  // The startup message has no type byte: its length is at its start (end(0)).
  const startup = plain(b().inc(4).i16(3).z(2).str("user" + b.N + "me" + b.N).z(2).end(0));
  assert.deepEqual(
    startup,
    new Uint8Array([0, 0, 0, 18, 0, 3, 0, 0, ...cstr("user"), ...cstr("me"), 0, 0]),
  );
});

Deno.test("a message stays as it was while thousands are built after it", () => {
  const { next } = seeded(7);
  const built: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < 5_000; i++) {
    const length = Math.floor(next() * (next() < 0.01 ? 100_000 : 300));
    const text = next() < 0.2 ? "é".repeat(length >> 1) : "a".repeat(length);
    const values = [text, String(i), null];
    built.push([bind(`s${i}`, values), expectedBind(`s${i}`, values)]);
  }
  for (const [actual, expected] of built) assert.deepEqual(plain(actual), expected);
});

Deno.test("a slab grown for a large message is let go once that message is built", () => {
  const large = bind("big", ["x".repeat(1_000_000)]);
  const small = bind("small", ["y"]);
  assert.equal(large.length > 1_000_000, true);
  assert.notEqual(small.buffer, large.buffer, "the next message starts a slab of its own");
  assert.equal(small.buffer.byteLength <= 64 * 1024, true);
  assert.deepEqual(plain(large), expectedBind("big", ["x".repeat(1_000_000)]));
});

Deno.test("join() makes messages built one after another one view, and copies any others", () => {
  const first = bind("a", ["1"]);
  const second = bind("b", ["2", null]);
  const third = bind("c", ["3"]);
  const bytes = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...plain(p)]));
  const joined = join([first, second, third]);
  assert.equal(joined.buffer, first.buffer, "a view of the same slab, not a copy");
  assert.deepEqual(plain(joined), bytes(first, second, third));
  // Joined runs that are themselves side by side stay a view.
  assert.equal(join([join([first, second]), third]).buffer, first.buffer);
  // Not side by side: the wrong order, a gap between them, a new slab between them.
  const large = bind("big", ["x".repeat(70_000)]);
  const after = bind("after", []);
  for (const parts of [[second, first], [first, third], [third, large], [large, after]]) {
    const copy = join(parts);
    assert.notEqual(copy.buffer, parts[0]!.buffer, "copied");
    assert.deepEqual(plain(copy), bytes(...parts));
  }
  assert.equal(join([first]), first);
});
