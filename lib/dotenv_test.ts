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

Deno.test("withDotEnv() expands ${NAME} and ${NAME:-default} as python-dotenv does", async () => {
  const file = await Deno.makeTempFile();
  try {
    // The shape of the FastAPI template's .env: the URL built from a variable above it.
    await Deno.writeTextFile(
      file,
      [
        "FASTAPI_ENV=development",
        "POSTGRES_PASSWORD=changethis",
        "DATABASE_URL=postgresql://postgres:${POSTGRES_PASSWORD}@localhost:5432/app",
        'QUOTED="${POSTGRES_PASSWORD}-q"',
        "LITERAL='${POSTGRES_PASSWORD}'",
        "FROM_ENV=${HOME_DIR}/x",
        "DEFAULTED=${MISSING:-fallback}",
        "EMPTY_REF=[${MISSING}]",
        "LATER=${DEFINED_BELOW}",
        "DEFINED_BELOW=too late",
      ].join("\n"),
    );
    const env = await withDotEnv(file, { HOME_DIR: "/home/ada" });
    assert.equal(env.DATABASE_URL, "postgresql://postgres:changethis@localhost:5432/app");
    assert.equal(env.QUOTED, "changethis-q");
    assert.equal(env.LITERAL, "${POSTGRES_PASSWORD}", "single quotes are literal");
    assert.equal(env.FROM_ENV, "/home/ada/x", "the environment resolves names too");
    assert.equal(env.DEFAULTED, "fallback");
    assert.equal(env.EMPTY_REF, "[]");
    assert.equal(env.LATER, "", "only values above are seen, as python-dotenv reads in order");
    // The real environment wins over the file, and over what the file's references made.
    const overridden = await withDotEnv(file, { POSTGRES_PASSWORD: "real" });
    assert.equal(overridden.DATABASE_URL, "postgresql://postgres:real@localhost:5432/app");
    assert.equal(overridden.POSTGRES_PASSWORD, "real");
  } finally {
    await Deno.remove(file);
  }
});
