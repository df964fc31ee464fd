/**
 * The vendored driver's idle timer (vendor/postgres/src/connection.js,
 * changed from the published package): it was cleared and set again on
 * every query, a timeout each time; now a busy connection only notes when
 * it went idle, and one pending timeout checks that. Checked for what must
 * not change: a connection idle for `idle_timeout` closes, a busy one does
 * not, and ending the pool leaves no timer behind (Deno's op sanitizer).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { migratedDatabase } from "../_db.ts";

/** The backend process ids of this pool's connections, by its application name. */
async function backends(db: { sql: postgres.Sql }, name: string): Promise<number[]> {
  const rows = await db.sql<{ pid: number }[]>`
    select pid from pg_stat_activity where application_name = ${name} order by pid`;
  return rows.map((row) => row.pid);
}

Deno.test("a busy connection sets no timeout per query, and closes once idle for idle_timeout", async () => {
  await using db = await migratedDatabase();
  const name = `idle-${crypto.randomUUID().slice(0, 8)}`;
  const sql = postgres(db.url, { max: 1, idle_timeout: 1, connection: { application_name: name } });
  db.defer(() => sql.end());
  const [first] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;

  const setTimeout = globalThis.setTimeout;
  let timeouts = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timeouts++;
    return setTimeout(...args);
  }) as typeof setTimeout;
  let queries = 0;
  try {
    // Busy for 1.5 s, longer than idle_timeout, never idle for long.
    const until = performance.now() + 1500;
    while (performance.now() < until) {
      const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
      assert.equal(row!.pid, first!.pid, "the connection stayed open while in use");
      queries++;
    }
  } finally {
    globalThis.setTimeout = setTimeout;
  }
  assert.ok(queries > 50, `${queries} queries ran`);
  // One when the connection first went idle, and its re-arming after a second: not one a query.
  assert.ok(timeouts <= 3, `${timeouts} timeouts for ${queries} queries`);
  assert.deepEqual(await backends(db, name), [first!.pid]);

  // Idle past idle_timeout (checked up to a second late): the connection closes.
  const deadline = performance.now() + 5000;
  while ((await backends(db, name)).length > 0) {
    assert.ok(performance.now() < deadline, "the idle connection did not close within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // And the pool opens a new one on the next query.
  const [next] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  assert.notEqual(next!.pid, first!.pid);
});
