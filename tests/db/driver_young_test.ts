/**
 * What a request's queries leave behind for the garbage collector. A finished query, with its
 * rows and promises, and a request's history context must die young: collected by V8's
 * young-generation collections, not kept until a full one. They were not (docs/performance.md):
 * function literals written straight into properties (the driver's `Query`, the bounded pool's
 * first `then`) and object literals whose allocation V8 had moved to the old generation (the
 * history context) pointed at them from the old generation, and every request's objects were
 * copied there, 2.5 KB a `GET /items/{id}`.
 *
 * The check runs in its own process (tests/fixtures/young_queries.ts) with `--expose-gc`, so it
 * can ask for young-generation collections; the old code kept 50 of 50 of each.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { migratedDatabase } from "../_db.ts";
import { TEST_PERMISSIONS } from "../process.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/young_queries.ts", import.meta.url));

Deno.test("finished queries and request contexts die in young-generation collections", async () => {
  await using db = await migratedDatabase();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TEST_PERMISSIONS, "--v8-flags=--expose-gc", FIXTURE],
    env: { DATABASE_URL: db.url, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const left = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.equal(left.of, 50);
  // The last one or two may still be referenced by the connection or the loop.
  assert.ok(left.queries <= 3, `${left.queries} of 50 finished queries outlived young collections`);
  assert.ok(
    left.contexts <= 3,
    `${left.contexts} of 50 request contexts outlived young collections`,
  );
});

Deno.test("a query's then() makes a plain promise and its rows' map() a plain array, as before", async () => {
  await using db = await migratedDatabase();
  const sql = postgres(db.url, { max: 1 });
  db.defer(() => sql.end());
  const query = sql`select 1 as x`;
  const chained = query.then((rows) => rows);
  assert.equal(Object.getPrototypeOf(chained), Promise.prototype);
  const rows = await chained;
  assert.equal(rows.count, 1);
  const mapped = rows.map((row) => row.x);
  assert.equal(Object.getPrototypeOf(mapped), Array.prototype);
  assert.deepEqual(mapped, [1]);
  // And a failing query still rejects with the server's error.
  await assert.rejects(sql`select 1/0`, { code: "22012" });
});
