/**
 * Audit history cost and query speed, in one run on one database:
 *
 * - API throughput: `POST /api/v1/items/` then `PUT /api/v1/items/{id}` by 8
 *   concurrent clients through the app (in process, no sockets), with
 *   `items` tracked, then untracked (`tusk_history.untrack`), alternating;
 * - SQL throughput, the trigger's own cost: the same inserts and updates as
 *   bare statements into `items` (tracked) and an identical untracked copy,
 *   each in a history context as the API makes them; plus the copy written
 *   with no context at all (plain autocommit statements), for reference;
 * - query latency with 1,000,000 events in the table: one row's history, and
 *   the events of one request, first without table statistics, then analyzed
 *   (`--explain` prints each one's plan).
 *
 * Usage: deno task bench:history [--writes 4000] [--runs 3] [--events 1000000] [--explain]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 *
 * @module
 */
import { createSql, type Sql } from "../db/client.ts";
import { listEvents } from "../db/history.ts";
import { runInHistoryContext } from "../db/history_context.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { benchApp } from "./_app.ts";
import { explainStatements } from "../tests/plans.ts";
import { benchArgs, benchDatabase, benchServers, median, percentile } from "./_bench.ts";

const args = benchArgs();
const WRITES = args.writes ?? 4000;
const RUNS = args.runs ?? 3;
const EVENTS = args.events ?? 1_000_000;
const QUERIES = args.queries ?? 200;
const CLIENTS = 8;

type Mode = "tracked" | "untracked" | "plain";
const TABLE: Record<Mode, string> = {
  tracked: "items",
  untracked: "items_untracked",
  plain: "items_untracked",
};

/** `WRITES` statements from `CLIENTS` concurrent loops; writes per second. */
async function writeRate(mode: Mode, statement: (i: number) => Promise<unknown>) {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < WRITES) {
      const i = next++;
      // The API runs each request in its own context; "plain" is a write with none.
      if (mode === "plain") await statement(i);
      else {await runInHistoryContext({ request_id: `bench-${i}`, method: "POST" }, () =>
          statement(i));}
    }
  }));
  return WRITES / ((performance.now() - started) / 1000);
}

async function writes(sql: Sql, ownerId: string) {
  const rates: Record<string, Record<Mode, number[]>> = {
    insert: { tracked: [], untracked: [], plain: [] },
    update: { tracked: [], untracked: [], plain: [] },
  };
  // Run -1 warms up (JIT, connections, prepared statements) and is dropped.
  for (let run = -1; run < RUNS; run++) {
    // Alternate the order between runs so drift on a shared machine favours no one.
    const modes: Mode[] = run % 2 === 0
      ? ["tracked", "untracked", "plain"]
      : ["plain", "untracked", "tracked"];
    for (const mode of modes) {
      const table = sql(TABLE[mode]);
      await sql`truncate ${table}`;
      const ids: string[] = [];
      rates.insert![mode].push(
        await writeRate(mode, async (i) => {
          const [row] = await sql`insert into ${table} (title, owner_id)
            values (${`item ${i}`}, ${ownerId}) returning id`;
          ids.push(row!.id);
        }),
      );
      rates.update![mode].push(
        await writeRate(
          mode,
          (i) =>
            sql`update ${table} set title = ${`renamed ${i}`} where id = ${ids[i % ids.length]!}`,
        ),
      );
    }
    console.log(`bench: write run ${run + 1}/${RUNS} done`);
  }
  for (const op of Object.values(rates)) for (const runs of Object.values(op)) runs.shift();
  return rates;
}

/** Requests per second: `WRITES` requests from `CLIENTS` concurrent loops. */
async function requestRate(request: (i: number) => Response | Promise<Response>) {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < WRITES) {
      const res = await request(next++);
      if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
      await res.body?.cancel();
    }
  }));
  return WRITES / ((performance.now() - started) / 1000);
}

async function api(sql: Sql) {
  const { app, auth } = await benchApp(sql);
  const headers = { Authorization: auth, "Content-Type": "application/json" };
  const rates = {
    insert: { tracked: [] as number[], untracked: [] as number[] },
    update: { tracked: [] as number[], untracked: [] as number[] },
  };
  // Run -1 warms up (JIT, connections, prepared statements) and is dropped.
  for (let run = -1; run < RUNS; run++) {
    const modes = run % 2 === 0
      ? ["tracked", "untracked"] as const
      : ["untracked", "tracked"] as const;
    for (const mode of modes) {
      if (mode === "tracked") await sql`select tusk_history.track('items')`;
      else await sql`select tusk_history.untrack('items')`;
      const ids: string[] = [];
      rates.insert[mode].push(
        await requestRate(async (i) => {
          const res = await app.request("/api/v1/items/", {
            method: "POST",
            headers,
            body: JSON.stringify({ title: `item ${i}` }),
          });
          const copy = res.clone();
          if (res.status === 200) ids.push((await copy.json()).id);
          return res;
        }),
      );
      rates.update[mode].push(
        await requestRate((i) =>
          app.request(`/api/v1/items/${ids[i % ids.length]}`, {
            method: "PUT",
            headers,
            body: JSON.stringify({ title: `renamed ${i}` }),
          })
        ),
      );
    }
    console.log(`bench: API run ${run + 1}/${RUNS} done`);
  }
  for (const op of Object.values(rates)) for (const runs of Object.values(op)) runs.shift();
  await sql`select tusk_history.track('items')`;
  return rates;
}

/**
 * Fills the events table to `EVENTS` rows: 10,000 rows of history, 100,000 requests. Autovacuum
 * is turned off for both tables, so the queries meet them first without statistics (as a server
 * with autovacuum off, or one that has not got to them yet, would), then analyzed.
 */
async function fillEvents(sql: Sql) {
  await sql`truncate tusk_history.events, tusk_history.contexts`;
  await sql`alter table tusk_history.events set (autovacuum_enabled = false)`;
  await sql`alter table tusk_history.contexts set (autovacuum_enabled = false)`;
  await sql`
    insert into tusk_history.contexts (id, metadata)
    select ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
      jsonb_build_object('request_id', 'req-' || g, 'method', 'PATCH')
    from generate_series(1, 100000) g`;
  await sql`
    insert into tusk_history.events (table_name, row_id, op, label, data, diff, context_id)
    select 'items', 'row-' || (g % 10000), 'update', 'items.update',
      jsonb_build_object('id', 'row-' || (g % 10000), 'title', 'title ' || g),
      jsonb_build_object('title', jsonb_build_array('title ' || (g - 1), 'title ' || g)),
      ('00000000-0000-4000-8000-' || lpad(to_hex(g % 100000 + 1), 12, '0'))::uuid
    from generate_series(1, ${EVENTS}) g`;
}

/** The two queries' latencies (and with `--explain`, their plans), as the API runs them. */
async function queries(sql: Sql, url: string, label: string) {
  const row = (i: number) => ({ table: "items", row_id: `row-${(i * 7919) % 10000}` });
  const request = (i: number) => ({ request_id: `req-${(i * 7919) % 100000 + 1}` });
  if (args.explain) {
    const cases = [
      ["one row's history", row(1), "asc"],
      ["one request's events", request(1), "desc"],
    ] as const;
    for (const [name, filters, order] of cases) {
      const [, page] = await explainStatements(
        url,
        (client) => listEvents(client, filters, { skip: 0, limit: 100, order }),
        { explain: "explain (analyze, buffers) ", only: "tusk_history" },
      );
      console.log(`\n${name}, ${label}:\n${page!.map((r) => r["QUERY PLAN"]).join("\n")}\n`);
    }
  }
  return {
    rowHistory: await latency((i) =>
      listEvents(sql, row(i), { skip: 0, limit: 100, order: "asc" })
    ),
    byRequest: await latency((i) =>
      listEvents(sql, request(i), { skip: 0, limit: 100, order: "desc" })
    ),
  };
}

async function latency(query: (i: number) => Promise<unknown>, count = QUERIES) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await query(i);
    times.push(performance.now() - started);
  }
  return { median: median(times), p99: percentile(times, 99) };
}

/** Runs the benchmark and prints its figures. */
export async function main() {
  for (const pg of benchServers(args)) await measure(pg);
}

/** One run of the benchmark on one server (`pg`: an embedded version, see `--pg`). */
async function measure(pg?: string) {
  await using db = await benchDatabase("history", pg);
  const sql = createSql(db.url, { role: "cli", poolSize: CLIENTS });
  try {
    await migrateUp(sql, await loadMigrations());
    await sql`create table items_untracked (like items including all)`;
    await sql`alter table items_untracked add foreign key (owner_id) references users (id)`;
    const [owner] = await sql`insert into users (email, hashed_password)
      values ('bench@example.com', 'x') returning id`;
    const apiRates = await api(sql);
    const rates = await writes(sql, owner!.id);

    console.log(`bench: filling tusk_history.events with ${EVENTS} events`);
    await fillEvents(sql);
    const cold = await queries(sql, db.url, "without statistics");
    // As autovacuum would: statistics, and GIN's pending list of new contexts merged into the index.
    await sql`vacuum analyze tusk_history.events`;
    await sql`vacuum analyze tusk_history.contexts`;
    const { rowHistory, byRequest } = await queries(sql, db.url, "with statistics");
    // GET /history/ with no filter counts every event for its `count`.
    const unfiltered = await latency(
      () => listEvents(sql, {}, { skip: 0, limit: 100, order: "desc" }),
      20,
    );

    console.log(`\nhistory bench: ${CLIENTS} clients, ${WRITES} writes per run, ${RUNS} runs`);
    for (const op of ["insert", "update"] as const) {
      const r = apiRates[op];
      const [t, u] = [median(r.tracked), median(r.untracked)];
      console.log(
        `  API ${op === "insert" ? "POST /items/" : "PUT /items/{id}"}: tracked ${
          t.toFixed(0)
        }/s, ` +
          `untracked ${u.toFixed(0)}/s; cost of tracking ${(u / t).toFixed(2)}x ` +
          `(runs tracked ${r.tracked.map((x) => x.toFixed(0)).join(" / ")}, ` +
          `untracked ${r.untracked.map((x) => x.toFixed(0)).join(" / ")})`,
      );
    }
    for (const op of ["insert", "update"] as const) {
      const r = rates[op]!;
      const [t, u, p] = [median(r.tracked), median(r.untracked), median(r.plain)];
      console.log(
        `  SQL ${op}: tracked ${t.toFixed(0)}/s, untracked ${u.toFixed(0)}/s ` +
          `(no context: ${p.toFixed(0)}/s); cost of tracking ${(u / t).toFixed(2)}x ` +
          `(runs tracked ${r.tracked.map((x) => x.toFixed(0)).join(" / ")}, ` +
          `untracked ${r.untracked.map((x) => x.toFixed(0)).join(" / ")}, ` +
          `no context ${r.plain.map((x) => x.toFixed(0)).join(" / ")})`,
      );
    }
    const ms = (x: { median: number; p99: number }) =>
      `median ${x.median.toFixed(2)} ms, p99 ${x.p99.toFixed(2)} ms`;
    console.log(`  with ${EVENTS} events, ${QUERIES} queries each (${db.server}):`);
    console.log(`    one row's history (100 events): ${ms(rowHistory)}`);
    console.log(`    one request's events: ${ms(byRequest)}`);
    console.log(`    one row's history, without statistics: ${ms(cold.rowHistory)}`);
    console.log(`    one request's events, without statistics: ${ms(cold.byRequest)}`);
    console.log(`    the newest 100 of all, with the total count (20 queries): ${ms(unfiltered)}`);
  } finally {
    await sql.end();
  }
}

if (import.meta.main) await main();
