import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TEST_SECRET } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, login, makeUser } from "../_factories.ts";
import { freePort, startTusk, TEST_PERMISSIONS, waitFor, waitForHttp } from "../process.ts";
import { knownData } from "../_analytics.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The factories' `login()` against a server process. */
function over(base: string) {
  return {
    request: (path: string | URL | Request, init?: RequestInit) => fetch(`${base}${path}`, init),
  };
}

async function get(url: string, headers: Record<string, string>) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}

Deno.test("`deno task start` and `start-worker` under their permission sets: the API queues, the worker exports, the API answers", async () => {
  await using db = await migratedDatabase();
  // Inside .data: the only place the worker's set may write.
  const dir = `.data/test-analytics-${crypto.randomUUID().slice(0, 8)}`;
  db.defer(() => Deno.remove(`${ROOT}/${dir}`, { recursive: true }).catch(() => {}));
  await knownData(db.sql);
  const admin = await makeUser(db.sql, { superuser: true });
  const port = freePort();
  const env = {
    ENVIRONMENT: "production",
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PORT: String(port),
    EMAIL_TRANSPORT: "off",
    PARQUET_DATA_PATH: dir,
    WORKER_POLL_INTERVAL_MS: "200",
  };
  await using api = startTusk([], env, { task: "start" });
  await using worker = startTusk([], env, { task: "start-worker" });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/readyz`, 200, 60_000);
  await worker.waitForOutput(/worker ready/);
  const auth = bearer(await login(over(base), admin.email, admin.password));

  const queued = await fetch(`${base}/api/v1/analytics/export`, { method: "POST", headers: auth });
  assert.equal(queued.status, 202);
  const { job_id } = await queued.json();
  await waitFor(async () => {
    const r = await get(`${base}/api/v1/jobs/${job_id}/status`, auth);
    assert.notEqual(r.body.state, "failed", JSON.stringify(r.body));
    return r.body.state === "completed";
  }, 30_000).catch((error) => {
    throw new Error(`${error.message}; worker output:\n${worker.output()}`);
  });
  const byUser = await get(`${base}/api/v1/analytics/items_by_user`, auth);
  assert.equal(byUser.status, 200, JSON.stringify(byUser.body));
  assert.deepEqual(byUser.body.map((r: { item_count: number }) => r.item_count), [3, 2, 2, 1]);
  assert.doesNotMatch(api.output() + worker.output(), /NotCapable|PermissionDenied/);

  api.killGroup("SIGTERM");
  worker.killGroup("SIGTERM");
  assert.equal((await api.status).code, 0, api.output());
  assert.equal((await worker.status).code, 0, worker.output());
});

Deno.test("where DuckDB cannot load (no FFI for it, as in a compiled binary), analytics says so and everything else runs", async () => {
  await using db = await migratedDatabase();
  const dir = await Deno.makeTempDir({ prefix: "tusk-no-duckdb-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  await knownData(db.sql);
  const admin = await makeUser(db.sql, { superuser: true });
  const env = { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET, PARQUET_DATA_PATH: dir };
  // FFI for argon2 (login) only: loading DuckDB's addon is refused, as it fails in a binary.
  const argon2 = [...Deno.readDirSync(`${ROOT}/node_modules/.deno`)]
    .filter((e) => e.name.startsWith("@node-rs+argon2"))
    .map((e) => `${ROOT}/node_modules/.deno/${e.name}`);
  const permissions = [
    ...TEST_PERMISSIONS.filter((p) => p !== "--allow-ffi"),
    `--allow-ffi=${argon2.join(",")}`,
  ];

  const refused = startTusk(["analytics", "export"], env, { permissions });
  assert.equal((await refused.status).code, 1);
  await refused[Symbol.asyncDispose]();
  assert.match(refused.output(), /Analytics is not available in this process/);
  assert.doesNotMatch(refused.output(), /^\s+at /m, "no stack trace");

  // With an export made where DuckDB loads, only DuckDB itself is missing from the API.
  const made = startTusk(["analytics", "export"], env);
  assert.equal((await made.status).code, 0, made.output());
  await made[Symbol.asyncDispose]();

  const port = freePort();
  await using api = startTusk(["serve"], { ...env, PORT: String(port), EMAIL_TRANSPORT: "off" }, {
    permissions,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/readyz`, 200, 60_000);
  const auth = bearer(await login(over(base), admin.email, admin.password));
  assert.equal((await get(`${base}/api/v1/users/me`, auth)).status, 200);
  const report = await get(`${base}/api/v1/analytics/items_by_user`, auth);
  assert.equal(report.status, 503);
  assert.match(report.body.detail, /^Analytics is not available in this process/);
  const status = await get(`${base}/api/v1/analytics/status`, auth);
  assert.equal(status.status, 200, "status needs no DuckDB");
  assert.equal(status.body.tables.items.rows, 8);
  api.kill("SIGTERM");
  assert.equal((await api.status).code, 0, api.output());
});
