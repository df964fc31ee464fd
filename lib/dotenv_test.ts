import assert from "node:assert/strict";
import { parseDotEnv, withDotEnv } from "./dotenv.ts";

Deno.test("parseDotEnv() reads comments, export, quotes, inline comments and multi-line values", () => {
  const env = parseDotEnv(
    [
      "# comment",
      "PORT=8001",
      "export NAME='a # b'",
      'MULTI="one\\ntwo"',
      "TRAIL=value # note",
      "EMPTY=",
      "not a line",
      'KEY="-----BEGIN KEY-----',
      "abc",
      '-----END KEY-----"',
      "AFTER=still read",
    ].join("\n"),
  );
  assert.deepEqual(env, {
    PORT: "8001",
    NAME: "a # b",
    MULTI: "one\ntwo",
    TRAIL: "value",
    EMPTY: "",
    KEY: "-----BEGIN KEY-----\nabc\n-----END KEY-----",
    AFTER: "still read",
  });
});

Deno.test("withDotEnv() lets the real environment win and tolerates a missing file", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "A=file\nB=file\n");
    assert.deepEqual(await withDotEnv(file, { B: "env" }), { A: "file", B: "env" });
    assert.deepEqual(await withDotEnv(`${file}.missing`, { B: "env" }), { B: "env" });
  } finally {
    await Deno.remove(file);
  }
});
