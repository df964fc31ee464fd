/**
 * The vendored driver's `Result` (vendor/postgres/src/result.js, changed
 * from the published package: its facts are private fields behind
 * accessors instead of properties made by `Object.defineProperties()`).
 * What callers see must not change: the rows and nothing else as keys, in
 * JSON and in copies; the facts readable; `map()` a plain array.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { migratedDatabase } from "../_db.ts";

Deno.test("a result is its rows to keys, JSON and copies, and still tells count, command and columns", async () => {
  await using db = await migratedDatabase();
  const sql = postgres(db.url, { max: 1 });
  db.defer(() => sql.end());
  const rows = await sql`select n, n * 2 as twice from generate_series(1, 3) as n`;
  assert.deepEqual(Object.keys(rows), ["0", "1", "2"]);
  assert.equal(JSON.stringify(rows), '[{"n":1,"twice":2},{"n":2,"twice":4},{"n":3,"twice":6}]');
  assert.deepEqual({ ...rows }, { 0: rows[0], 1: rows[1], 2: rows[2] });
  assert.deepEqual([...rows], [{ n: 1, twice: 2 }, { n: 2, twice: 4 }, { n: 3, twice: 6 }]);
  assert.equal(rows.count, 3);
  assert.equal(rows.command, "SELECT");
  assert.deepEqual(rows.columns.map((c) => c.name), ["n", "twice"]);
  assert.equal(rows.statement.string.trim().startsWith("select n"), true);
  const doubled = rows.map((r) => r.twice);
  assert.equal(Object.getPrototypeOf(doubled), Array.prototype);
  assert.deepEqual(doubled, [2, 4, 6]);

  const none = await sql`update users set full_name = full_name where false`;
  assert.deepEqual(Object.keys(none), []);
  assert.equal(none.count, 0);
  assert.equal(none.command, "UPDATE");
  // Each result has its own facts.
  const [a, b] = await Promise.all([sql`select 1 as x`, sql`select 1 as x union all select 2`]);
  assert.deepEqual([a.count, b.count], [1, 2]);
});
