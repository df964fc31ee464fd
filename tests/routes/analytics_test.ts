import assert from "node:assert/strict";
import { join } from "node:path";
import { exportAnalytics } from "../../analytics/export.ts";
import { currentGeneration } from "../../analytics/files.ts";
import { testApp } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { waitFor } from "../process.ts";
import { knownData, memoryLogger, scratchDir } from "../_analytics.ts";

const A = "/api/v1/analytics";
const REPORTS = ["items_by_user", "active_users", "items_per_day"];

async function setup(db: TestDatabase, options: { work?: boolean } = {}) {
  const dir = await scratchDir(db);
  const started = await testApp(db, { env: { PARQUET_DATA_PATH: dir }, work: options.work });
  const admin = await makeUser(db.sql, { superuser: true, email: "zed-admin@example.com" });
  return {
    ...started,
    dir,
    adminH: bearer(await login(started.app, admin.email, admin.password)),
    exportNow: () => exportAnalytics(db.sql, { dir, log: memoryLogger().log }),
  };
}

Deno.test("analytics endpoints: 401 without a token, 403 for a normal user", async () => {
  await using db = await migratedDatabase();
  const { app } = await setup(db);
  const user = await makeUser(db.sql);
  const userH = bearer(await login(app, user.email, user.password));
  for (const path of [...REPORTS, "status"]) {
    assert.equal((await call(app, `${A}/${path}`)).status, 401, path);
    const r = await call(app, `${A}/${path}`, { headers: userH });
    assert.equal(r.status, 403, path);
    assert.equal(r.body.detail, "The user doesn't have enough privileges");
  }
  assert.equal((await call(app, `${A}/export`, { method: "POST" })).status, 401);
  assert.equal((await call(app, `${A}/export`, { method: "POST", headers: userH })).status, 403);
  const [jobs] = await db
    .sql`select count(*)::int as n from pgboss.job where name = 'export-analytics'`;
  assert.equal(jobs!.n, 0, "a refused request queues nothing");
});

Deno.test("before any export: reports answer 503 saying how to run one; status says none", async () => {
  await using db = await migratedDatabase();
  const { app, adminH } = await setup(db);
  for (const path of REPORTS) {
    const r = await call(app, `${A}/${path}`, { headers: adminH });
    assert.equal(r.status, 503, path);
    assert.match(r.body.detail, /No analytics export yet/);
    assert.match(r.body.detail, /POST \/api\/v1\/analytics\/export/);
    assert.match(r.body.detail, /deno task cli analytics export/);
  }
  const status = await call(app, `${A}/status`, { headers: adminH });
  assert.equal(status.status, 200);
  assert.deepEqual(status.body, {
    exported_at: null,
    finished_at: null,
    duration_seconds: null,
    running: false,
    tables: { users: { rows: null, bytes: null }, items: { rows: null, bytes: null } },
  });
});

Deno.test("reports match SQL over the same data, and come from the files, not the tables", async () => {
  await using db = await migratedDatabase();
  const { app, adminH, exportNow } = await setup(db);
  await knownData(db.sql);
  const { manifest } = await exportNow();

  const byUser = await call(app, `${A}/items_by_user`, { headers: adminH });
  assert.equal(byUser.status, 200);
  const sqlByUser = await db.sql`
    select u.email, count(*)::int as item_count from items i join users u on u.id = i.owner_id
    group by u.id order by item_count desc, u.email`;
  assert.deepEqual(byUser.body.map((r: { item_count: number }) => r.item_count), [3, 2, 2, 1]);
  assert.deepEqual(byUser.body, [...sqlByUser]);

  const active = await call(app, `${A}/active_users`, { headers: adminH });
  assert.equal(active.status, 200);
  const sqlActive = await db.sql`
    select u.id::text as user_id, u.email, u.full_name, count(i.id)::int as item_count
    from users u left join items i on i.owner_id = u.id
    group by u.id order by item_count desc, u.email limit 10`;
  assert.equal(active.body[0].full_name, 'Carol "C", Jr.\nthe 2nd');
  assert.deepEqual(active.body, [...sqlActive]);

  const perDay = await call(app, `${A}/items_per_day?days=7`, { headers: adminH });
  assert.equal(perDay.status, 200);
  const sqlPerDay = await db.sql`
    select to_char(d, 'YYYY-MM-DD') as day,
      (select count(*)::int from items
       where (created_at at time zone 'UTC')::date = d::date) as item_count
    from generate_series(${manifest.exported_at}::timestamptz at time zone 'UTC' - interval '6 days',
      ${manifest.exported_at}::timestamptz at time zone 'UTC', interval '1 day') d
    order by d`;
  assert.equal(perDay.body.length, 7);
  assert.ok(perDay.body.some((d: { item_count: number }) => d.item_count === 0), "zero-filled");
  assert.deepEqual(perDay.body, [...sqlPerDay]);
  const month = await call(app, `${A}/items_per_day`, { headers: adminH });
  assert.equal(month.body.length, 30, "30 days by default");
  assert.equal(
    month.body.at(-1).day,
    manifest.exported_at.slice(0, 10),
    "ends on the export's day",
  );
  assert.equal(
    month.body.reduce((n: number, d: { item_count: number }) => n + d.item_count, 0),
    7,
    "the item from 40 days ago is outside the window",
  );

  // New rows reach the reports only through the next export.
  await db.sql`delete from items`;
  assert.equal((await call(app, `${A}/items_by_user`, { headers: adminH })).body.length, 4);
  await exportNow();
  assert.deepEqual((await call(app, `${A}/items_by_user`, { headers: adminH })).body, []);
  const status = await call(app, `${A}/status`, { headers: adminH });
  assert.equal(status.body.tables.items.rows, 0);
  assert.equal(status.body.tables.users.rows, 6);
});

Deno.test("bad query values are 422s", async () => {
  await using db = await migratedDatabase();
  const { app, adminH, exportNow } = await setup(db);
  await exportNow();
  for (const days of ["0", "-1", "abc", "1.5", "3661", "1e400"]) {
    const r = await call(app, `${A}/items_per_day?days=${days}`, { headers: adminH });
    assert.equal(r.status, 422, `days=${days}`);
    assert.equal(r.body.detail[0].loc.join("."), "query.days");
  }
  const r = await call(app, `${A}/items_per_day?days=3660`, { headers: adminH });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 3660);
});

Deno.test("unreadable files: 503 with no DuckDB or file-system text; the cause is logged", async () => {
  await using db = await migratedDatabase();
  const { app, adminH, logs, dir, exportNow } = await setup(db);
  await knownData(db.sql);
  await exportNow();
  const generation = (await currentGeneration(dir))!;
  // Garbage of the file's own size: a short file would be fetched again from Postgres.
  const path = join(generation.dir, "items_analytics.parquet");
  await Deno.writeFile(path, new Uint8Array((await Deno.stat(path)).size).fill(42));
  for (const path of REPORTS) {
    const r = await call(app, `${A}/${path}`, { headers: adminH });
    assert.equal(r.status, 503, path);
    assert.equal(r.body.detail, "Analytics data could not be read; try again shortly");
  }
  assert.ok(logs.some((l) => l.msg === "analytics report failed"));
});

Deno.test("POST /analytics/export: 202 with the job id; the worker exports; two at once are one job", async () => {
  await using db = await migratedDatabase();
  const { app, adminH, dir } = await setup(db, { work: true });
  await knownData(db.sql);
  const [first, second] = await Promise.all([
    call(app, `${A}/export`, { method: "POST", headers: adminH }),
    call(app, `${A}/export`, { method: "POST", headers: adminH }),
  ]);
  assert.equal(first.status, 202);
  assert.equal(second.status, 202);
  assert.match(first.body.job_id, /^[0-9a-f-]{36}$/);
  assert.equal(first.body.job_id, second.body.job_id, "the second request joins the first job");
  await waitFor(async () => {
    const r = await call(app, `/api/v1/jobs/${first.body.job_id}/status`, { headers: adminH });
    return r.body.state === "completed";
  }, 20_000);
  const job = await call(app, `/api/v1/jobs/${first.body.job_id}/status`, { headers: adminH });
  assert.equal(job.body.output.items, 8);
  assert.equal(job.body.output.users, 6);
  const [jobs] = await db
    .sql`select count(*)::int as n from pgboss.job where name = 'export-analytics'`;
  assert.equal(jobs!.n, 1);

  const status = await call(app, `${A}/status`, { headers: adminH });
  assert.equal(status.status, 200);
  assert.equal(status.body.tables.items.rows, 8);
  assert.equal(status.body.running, false);
  assert.equal(status.body.exported_at, (await currentGeneration(dir))!.manifest.exported_at);

  // Finished, so the next request queues a new job.
  const again = await call(app, `${A}/export`, { method: "POST", headers: adminH });
  assert.equal(again.status, 202);
  assert.notEqual(again.body.job_id, first.body.job_id);
});

Deno.test("readers during exports never fail, and status shows an export running", async () => {
  await using db = await migratedDatabase();
  const { app, adminH, exportNow } = await setup(db);
  const [owner] = await knownData(db.sql);
  await exportNow();
  await db.sql`insert into items (title, owner_id)
    select 'bulk ' || g, ${owner!.user.id} from generate_series(1, 5000) g`;
  let exporting = true;
  let sawRunning = false;
  const exporter = (async () => {
    try {
      for (let i = 0; i < 6; i++) await exportNow();
    } finally {
      exporting = false;
    }
  })();
  let reads = 0;
  while (exporting) {
    const results = await Promise.all([
      ...REPORTS.map((p) => call(app, `${A}/${p}`, { headers: adminH })),
      call(app, `${A}/status`, { headers: adminH }),
    ]);
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    const byUser = results[0]!.body as { item_count: number }[];
    const total = byUser.reduce((n, r) => n + r.item_count, 0);
    assert.ok(total === 8 || total === 5008, `a whole export's count, got ${total}`);
    sawRunning ||= results[3]!.body.running;
    reads++;
  }
  await exporter;
  assert.ok(reads > 3, `only ${reads} rounds of reads`);
  assert.ok(sawRunning, "status reported a running export at least once");
});
