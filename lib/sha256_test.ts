import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Head } from "./sha256.ts";

Deno.test("sha256Head() is the first word of node:crypto's SHA-256, for every length and script", () => {
  const inputs = ["", "abc", "FF_NEW/user-1", "ü€😀 mixed", "x".repeat(55), "y".repeat(56)];
  for (let n = 0; n < 300; n++) {
    inputs.push(
      Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7 + n) % 90))).join(""),
    );
  }
  for (const text of inputs) {
    const expected = createHash("sha256").update(text).digest().readUInt32BE(0);
    assert.equal(sha256Head(text), expected, JSON.stringify(text));
  }
});
