/**
 * Every request starts from a root context, whatever ran before it in the
 * process. Deno hands later requests the async context that was current
 * when a Node-API addon (DuckDB) was first loaded, so the first analytics
 * report or export job of a process used to leak its user, its job and its
 * finished transaction into every request after it. Real processes only:
 * `app.request()` in-process never goes through `Deno.serve`'s dispatch.
 */
import assert from "node:assert/strict";
import { exportAnalytics } from "../analytics/export.ts";
import { TEST_SECRET } from "./_app.ts";
import { migratedDatabase, type TestDatabase } from "./_db.ts";
import { bearer, login, makeUser } from "./_factories.ts";
import { fileURLToPath } from "node:url";
import { freePort, startTusk, waitFor, waitForHttp } from "./process.ts";
import { knownData, memoryLogger, scratchDir } from "./_analytics.ts";

type Json = Record<string, unknown>;

function client(base: string) {
  async function send(method: string, path: string, headers: Json = {}, body?: unknown) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }
  return {
    send,
    request: (path: string | URL | Request, init?: RequestInit) => fetch(`${base}${path}`, init),
  };
}

async function start(db: TestDatabase, role: "serve" | "dev", dir: string) {
  const port = freePort();
  const proc = startTusk([role], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PORT: String(port),
    EMAIL_TRANSPORT: "off",
    PARQUET_DATA_PATH: dir,
    WORKER_POLL_INTERVAL_MS: "100",
  });
  db.defer(async () => await proc[Symbol.asyncDispose]());
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/readyz`, 200, 60_000);
  return client(base);
}

/** The context of the one event recorded for `table` row `rowId` with `op`. */
async function contextOf(db: TestDatabase, table: string, rowId: string, op: string) {
  const [event] = await db.sql<{ id: string; context: Json | null }[]>`
    select e.id::text as id, c.metadata || jsonb_build_object('id', c.id) as context
    from tusk_history.events e left join tusk_history.contexts c on c.id = e.context_id
    where e.table_name = ${table} and e.row_id = ${rowId} and e.op = ${op}
    order by e.id desc limit 1`;
  assert.ok(event, `an ${op} event for ${table} ${rowId}`);
  return event;
}

/** An anonymous write is recorded with no user, and a superuser's revert works. */
async function assertRootContexts(
  db: TestDatabase,
  api: ReturnType<typeof client>,
  admin: Json,
  before: string,
) {
  const created = await api.send("POST", "/api/v1/private/users/", {}, {
    email: `anon-${crypto.randomUUID().slice(0, 8)}@example.com`,
    password: "password123",
    full_name: "Anonymous",
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const anon = await contextOf(db, "users", created.body.id, "insert");
  assert.equal(anon.context?.user_id, undefined, `after ${before}: ${JSON.stringify(anon)}`);
  for (const key of ["job_id", "job_name", "attempt", "command"]) {
    assert.equal(
      anon.context?.[key],
      undefined,
      `after ${before}, ${key}: ${JSON.stringify(anon)}`,
    );
  }
  assert.equal(anon.context?.route, "/api/v1/private/users");

  const renamed = await api.send("PATCH", "/api/v1/users/me", admin, { full_name: "Renamed" });
  assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
  const update = await contextOf(db, "users", renamed.body.id, "update");
  assert.equal(update.context?.user_id, renamed.body.id);
  assert.equal(update.context?.job_id, undefined, JSON.stringify(update));
  const reverted = await api.send("POST", `/api/v1/history/${update.id}/revert`, admin);
  assert.equal(reverted.status, 200, `after ${before}: ${JSON.stringify(reverted.body)}`);
  assert.equal(reverted.body.context.user_id, renamed.body.id);
  assert.equal(reverted.body.context.job_id, undefined);
}

async function setup() {
  const db = await migratedDatabase();
  const dir = await scratchDir(db);
  await knownData(db.sql);
  const admin = await makeUser(db.sql, { superuser: true });
  return { db, dir, admin };
}

Deno.test("DuckDB opened inside a context leaves later requests outside it", async () => {
  const entry = fileURLToPath(new URL("./fixtures/duckdb_in_context.ts", import.meta.url));
  await using proc = startTusk([], {}, { entry });
  assert.equal((await proc.status).code, 0, proc.output());
  assert.match(proc.output(), /^seen: undefined$/m);
});

for (const role of ["serve", "dev"] as const) {
  Deno.test(`${role}: after a superuser's first analytics report, an anonymous write carries no user`, async () => {
    const { db, dir, admin } = await setup();
    await using _db = db;
    await exportAnalytics(db.sql, { dir, log: memoryLogger().log });
    const api = await start(db, role, dir);
    const auth = bearer(await login(api, admin.email, admin.password));
    // The first report of the process loads DuckDB, inside the superuser's request.
    const report = await api.send("GET", "/api/v1/analytics/items_by_user", auth);
    assert.equal(report.status, 200, JSON.stringify(report.body));
    await assertRootContexts(db, api, auth, "a report");
  });
}

Deno.test("dev: after an export job ran in the process, requests carry no job and revert works", async () => {
  const { db, dir, admin } = await setup();
  await using _db = db;
  const api = await start(db, "dev", dir);
  const auth = bearer(await login(api, admin.email, admin.password));
  // The worker in this process loads DuckDB inside the job attempt's context and transaction.
  const queued = await api.send("POST", "/api/v1/analytics/export", auth);
  assert.equal(queued.status, 202, JSON.stringify(queued.body));
  await waitFor(async () => {
    const job = await api.send("GET", `/api/v1/jobs/${queued.body.job_id}/status`, auth);
    assert.notEqual(job.body.state, "failed", JSON.stringify(job.body));
    return job.body.state === "completed";
  });
  await assertRootContexts(db, api, auth, "an export job");
});
