/**
 * Analytics without a shared disk: the export publishes its files into
 * Postgres, and a reader with another directory (another machine) answers
 * the same reports from its own cache, replaced when a newer generation is
 * published; as real processes too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { exportAnalytics } from "../../analytics/export.ts";
import { generationResolver } from "../../analytics/published.ts";
import { analyticsReports } from "../../analytics/reports.ts";
import { TEST_SECRET } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { memoryLogger } from "../_analytics.ts";
import { freePort, startTusk, waitForHttp } from "../process.ts";

async function addItems(sql: Awaited<ReturnType<typeof migratedDatabase>>["sql"], n: number) {
  const owner = await makeUser(sql);
  await sql`insert into items (title, owner_id)
    select 'item ' || g, ${owner.user.id} from generate_series(1, ${n}) g`;
  return owner;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
  } catch {
    return [];
  }
}

Deno.test("a reader in another directory answers from Postgres's generation, and follows a newer one", async () => {
  await using db = await migratedDatabase();
  const writer = await Deno.makeTempDir({ prefix: "tusk-writer-" });
  const reader = await Deno.makeTempDir({ prefix: "tusk-reader-" });
  db.defer(() => Deno.remove(writer, { recursive: true }));
  db.defer(() => Deno.remove(reader, { recursive: true }));
  const { log } = memoryLogger();
  const dir = join(reader, "parquet");
  const cacheDir = join(reader, "analytics-cache");
  const here = analyticsReports(writer, log, generationResolver(db.sql, { dir: writer, cacheDir }));
  const there = analyticsReports(dir, log, generationResolver(db.sql, { dir, cacheDir }));
  db.defer(() => here.close());
  db.defer(() => there.close());

  const alice = await addItems(db.sql, 3);
  const first = await exportAnalytics(db.sql, { dir: writer, log });
  assert.ok((first.publishSeconds ?? -1) >= 0);
  assert.deepEqual(await there.itemsByUser(), [{ email: alice.email, item_count: 3 }]);
  assert.deepEqual(await there.itemsByUser(), await here.itemsByUser());
  // The reader fetched into its cache and wrote nothing in its own export directory.
  assert.deepEqual(await entries(cacheDir), [first.manifest.generation]);
  assert.deepEqual(await entries(dir), []);
  // The writer's own reader takes its files where they are: nothing cached for it.
  assert.equal((await here.current())!.dir, join(writer, "exports", first.manifest.generation));

  const bob = await addItems(db.sql, 5);
  const second = await exportAnalytics(db.sql, { dir: writer, log });
  assert.deepEqual(await there.itemsByUser(), [
    { email: bob.email, item_count: 5 },
    { email: alice.email, item_count: 3 },
  ]);
  assert.equal((await there.current())!.manifest.generation, second.manifest.generation);
  // Published while nobody asks: fetched ahead of the next report (the reader listens).
  const third = await exportAnalytics(db.sql, { dir: writer, log });
  const deadline = Date.now() + 10_000;
  while (!(await entries(cacheDir)).includes(third.manifest.generation)) {
    assert.ok(Date.now() < deadline, "the new generation was not fetched ahead");
    await new Promise((r) => setTimeout(r, 20));
  }
  await there.itemsByUser();
  // Two generations kept, in Postgres and in the cache.
  const stored = await db.sql`select generation from tusk_analytics.generations order by 1`;
  assert.deepEqual(stored.map((r) => r.generation), [
    second.manifest.generation,
    third.manifest.generation,
  ]);
  assert.deepEqual(await entries(cacheDir), [
    second.manifest.generation,
    third.manifest.generation,
  ]);
});

Deno.test("an API process and a worker with different data directories answer the same reports", async () => {
  await using db = await migratedDatabase();
  const admin = await makeUser(db.sql, { superuser: true });
  await addItems(db.sql, 4);
  const apiData = await Deno.makeTempDir({ prefix: "tusk-api-data-" });
  const workerData = await Deno.makeTempDir({ prefix: "tusk-worker-data-" });
  db.defer(() => Deno.remove(apiData, { recursive: true }));
  db.defer(() => Deno.remove(workerData, { recursive: true }));
  const env = { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET, EMAIL_TRANSPORT: "off" };
  const port = freePort();
  await using api = startTusk(["serve"], { ...env, PORT: String(port), TUSK_DATA_DIR: apiData });
  await using worker = startTusk(["worker"], { ...env, TUSK_DATA_DIR: workerData });
  const base = `http://127.0.0.1:${port}/api/v1`;
  await (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  const login = await fetch(`${base}/login/access-token`, {
    method: "POST",
    body: new URLSearchParams({ username: admin.email, password: admin.password }),
  });
  const auth = { Authorization: `Bearer ${(await login.json()).access_token}` };
  const started = await fetch(`${base}/analytics/export`, { method: "POST", headers: auth });
  assert.equal(started.status, 202);
  await started.body?.cancel();
  const deadline = Date.now() + 30_000;
  let status;
  do {
    await new Promise((r) => setTimeout(r, 200));
    status = await (await fetch(`${base}/analytics/status`, { headers: auth })).json();
  } while (status.exported_at === null && Date.now() < deadline);
  assert.notEqual(status.exported_at, null, `${api.output()}\n${worker.output()}`);
  const report = await fetch(`${base}/analytics/items_by_user`, { headers: auth });
  assert.equal(report.status, 200, await report.clone().text());
  const rows = await report.json();
  assert.equal(rows.length, 1);
  assert.equal(rows[0].item_count, 4);
  // The worker wrote in its directory; the API only in its cache.
  assert.equal((await entries(join(workerData, "parquet"))).includes("manifest.json"), true);
  assert.deepEqual(await entries(join(apiData, "parquet")), []);
  assert.equal((await entries(join(apiData, "analytics-cache"))).length, 1);
});
