/**
 * The vendored driver keeps each tagged template's text and signature (the
 * key of a connection's prepared statements) once its values have all been
 * parameters (vendor/postgres/src/connection.js, `knownTemplate()`): the
 * same call site given a fragment, an identifier or values of another type
 * must still send the statement it makes.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { migratedDatabase } from "../_db.ts";

Deno.test("one call site, parameters or fragments in turn: each query sends its own statement", async () => {
  await using db = await migratedDatabase();
  for (const prepare of [true, false]) {
    const sql = postgres(db.url, { max: 1, prepare });
    db.defer(() => sql.end());
    const site = (x: unknown) =>
      sql`select (${x as never})::text as v from (select 'named' as id) as t`;
    const values = [1, 2, sql`2 + 3`, "text", 7, sql`${40}::int + ${2}::int`, sql("id"), 8, sql`9`];
    const answers = [];
    for (const x of values) answers.push((await site(x))[0]!.v);
    assert.deepEqual(answers, ["1", "2", "5", "text", "7", "42", "named", "8", "9"]);
  }
});

Deno.test("a template's statement is reused only with the same parameter types", async () => {
  await using db = await migratedDatabase();
  const sql = postgres(db.url, { max: 1 });
  db.defer(() => sql.end());
  const typed = (x: unknown) => sql`select pg_typeof(${x as never})::text as t`;
  const types = [];
  // (Strings and numbers go untyped, for the server to infer, so none here.)
  const bytes = new Uint8Array([1, 2]);
  for (const x of [new Date(0), true, 7n, new Date(1), false, bytes, true, sql.json({ a: 1 })]) {
    types.push((await typed(x))[0]!.t);
  }
  assert.deepEqual(types, [
    "timestamp with time zone",
    "boolean",
    "bigint",
    "timestamp with time zone",
    "boolean",
    "bytea",
    "boolean",
    "jsonb",
  ]);
});
