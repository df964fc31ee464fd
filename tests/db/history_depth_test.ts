/**
 * The audit history at depth, checked on the plans Postgres runs rather than
 * on time: with 200,000 events, one row's history and one request's events
 * read the events they show, not the table, with and without statistics.
 */
import assert from "node:assert/strict";
import type { Sql } from "../../db/client.ts";
import { type HistoryFilters, listEvents } from "../../db/history.ts";
import { migratedDatabase } from "../_db.ts";
import {
  EXPLAIN,
  explainStatements,
  nodes,
  outline,
  type PlanNode,
  planOf,
  rowsOf,
  usedJit,
} from "../plans.ts";

const EVENTS = 200_000;
// 20 events per row, 10 per request, 100 requests per user.
const ROWS = EVENTS / 20;
const REQUESTS = EVENTS / 10;
// What a listing may read of the events table: what it shows, with room for the page's own.
const READ_LIMIT = 200;

/** Fills the history with `EVENTS` events of `ROWS` items made by `REQUESTS` requests. */
async function fill(sql: Sql) {
  await sql`
    insert into tusk_history.contexts (id, metadata)
    select ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
      jsonb_build_object('request_id', 'req-' || g, 'user_id', 'user-' || (g % (${REQUESTS} / 100)))
    from generate_series(1, ${REQUESTS}) g`;
  await sql`
    insert into tusk_history.events (table_name, row_id, op, label, data, diff, context_id)
    select 'items', 'row-' || (g % ${ROWS}), 'update', 'items.update',
      jsonb_build_object('title', 'title ' || g), null,
      ('00000000-0000-4000-8000-' || lpad(to_hex(g % ${REQUESTS} + 1), 12, '0'))::uuid
    from generate_series(1, ${EVENTS}) g`;
}

/**
 * The plans of the statements `listEvents` runs for `filters`, each run under EXPLAIN ANALYZE on
 * a session like the pool's; none may be compiled by JIT (see `SESSION_SETTINGS`).
 */
async function listingPlans(url: string, filters: HistoryFilters): Promise<PlanNode[]> {
  const page = { skip: 0, limit: 100, order: "desc" } as const;
  const results = await explainStatements(url, (sql) => listEvents(sql, filters, page), {
    explain: EXPLAIN,
    only: "tusk_history",
  });
  for (const result of results) {
    assert.ok(!usedJit(result), `compiled by JIT:\n${outline(planOf(result))}`);
  }
  return results.map(planOf);
}

/** Asserts that no statement reads more than a page's worth of events, by any path. */
function assertReadsFew(plans: PlanNode[], label: string) {
  assert.equal(plans.length, 2, `${label}: a count and a page`);
  for (const plan of plans) {
    const shown = `${label}:\n${outline(plan)}`;
    for (const node of nodes(plan)) {
      if (!/Scan/.test(node["Node Type"])) continue;
      const onEvents = node["Relation Name"] === "events" ||
        node["Index Name"]?.startsWith("events_");
      if (!onEvents) continue;
      assert.notEqual(node["Node Type"], "Seq Scan", `reads every event, ${shown}`);
      assert.notEqual(node["Index Name"], "events_pkey", `walks every event in order, ${shown}`);
      assert.ok(rowsOf(node) <= READ_LIMIT, `read ${rowsOf(node)} events, ${shown}`);
    }
  }
}

Deno.test(`one row's history and one request's events read what they show, ${EVENTS} events deep`, async () => {
  await using db = await migratedDatabase();
  for (const table of ["events", "contexts"]) {
    // No statistics until this test asks for them, whatever the server's autovacuum does.
    await db.sql.unsafe(`alter table tusk_history.${table} set (autovacuum_enabled = false)`);
  }
  await fill(db.sql);
  const row = { table: "items", row_id: "row-77" };
  const request = { request_id: `req-${REQUESTS / 2}` };

  for (const statistics of ["without statistics", "with statistics"]) {
    if (statistics === "with statistics") {
      await db.sql`analyze tusk_history.events`;
      await db.sql`analyze tusk_history.contexts`;
    }
    assertReadsFew(await listingPlans(db.url, row), `one row's history, ${statistics}`);
    const byRequest = await listingPlans(db.url, request);
    assertReadsFew(byRequest, `one request's events, ${statistics}`);
    if (statistics === "with statistics") {
      // With statistics the request is found through the GIN index, not by reading every context.
      for (const plan of byRequest) {
        const contexts = nodes(plan).filter((n) => n["Relation Name"] === "contexts");
        assert.ok(contexts.every((n) => n["Node Type"] !== "Seq Scan"), outline(plan));
      }
    }
  }
  // The answers themselves: every event of the row and of the request, newest first.
  const rowPage = await listEvents(db.sql, row, { skip: 0, limit: 100, order: "desc" });
  assert.equal(rowPage.count, 20);
  const requestPage = await listEvents(db.sql, request, { skip: 0, limit: 100, order: "desc" });
  assert.equal(requestPage.count, 10);
  const ids = requestPage.data.map((e) => BigInt(e.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? 1 : -1)));
  assert.ok(requestPage.data.every((e) => e.context?.request_id === request.request_id));
});
