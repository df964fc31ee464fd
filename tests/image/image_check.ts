/**
 * `deno task test:image`: builds the image with podman and runs it as a
 * deployment would: `migrate`, then `serve` and `worker` containers against
 * the machine's PostgreSQL service (a fresh database). Skips, saying why,
 * where podman or that PostgreSQL is not there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createSql, databaseUrl } from "../../db/client.ts";
import { TEST_SECRET } from "../_app.ts";
import { bearer, login } from "../_factories.ts";
import { freePort, waitFor, waitForHttp } from "../process.ts";
import { buildImage, ensureBase, podman, podmanMissing, runDetached, runOnce } from "./_podman.ts";

const ADMIN_URL = Deno.env.get("TUSK_IMAGE_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const TAG = "localhost/tusk:test";
// The API's SHUTDOWN_TIMEOUT_SECONDS default; SIGTERM must finish well inside it.
const SHUTDOWN_SECONDS = 10;

async function postgresMissing(): Promise<string | undefined> {
  const sql = createSql(ADMIN_URL, { role: "test", poolSize: 1, connectTimeoutMs: 3000 });
  try {
    await sql`select 1`;
    return undefined;
  } catch (error) {
    return `no PostgreSQL answers at ${ADMIN_URL} (${(error as Error).message})`;
  } finally {
    await sql.end();
  }
}

const skip = await podmanMissing() ?? await postgresMissing();
if (skip) console.log(`test:image: skipped: ${skip}`);

/** Sends SIGTERM and waits; the exit code and how long it took. */
async function stop(name: string): Promise<{ code: number; seconds: number }> {
  const started = performance.now();
  await podman(["kill", "--signal", "TERM", name]);
  const waited = await podman(["wait", name]);
  return { code: Number(waited.out.trim()), seconds: (performance.now() - started) / 1000 };
}

Deno.test({
  name: "the image builds, migrates, runs every role, works jobs, and stops cleanly on SIGTERM",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const log = (line: string) => console.log(line);
    let started = performance.now();
    await ensureBase(log);
    log(`image: base ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    started = performance.now();
    const size = await buildImage(TAG);
    log(
      `image: ${TAG} built in ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
        `${(size / 1e6).toFixed(0)} MB`,
    );
    // 324 MB on Debian; about 215 MB since the final stage holds only Deno, its libraries, sh,
    // the packages the roles load and the app (docs/deploy.md).
    assert.ok(size < 250e6, `the image grew to ${(size / 1e6).toFixed(0)} MB`);

    const name = `tusk_image_${crypto.randomUUID().slice(0, 8)}`;
    const admin = createSql(ADMIN_URL, { role: "test", poolSize: 1 });
    await admin.unsafe(`create database ${name}`);
    try {
      const port = freePort();
      const env = {
        DATABASE_URL: databaseUrl(ADMIN_URL, name),
        SECRET_KEY: TEST_SECRET,
        FIRST_SUPERUSER: "image@example.com",
        FIRST_SUPERUSER_PASSWORD: "image-password-1",
        PORT: String(port),
        EMAIL_TRANSPORT: "off",
      };

      const bare = await runOnce(TAG, {}, ["serve"]);
      assert.equal(bare.code, 1, bare.out);
      assert.match(bare.out, /set DATABASE_URL .*no embedded Postgres/);

      const migrated = await runOnce(TAG, env, ["migrate"]);
      assert.equal(migrated.code, 0, migrated.out);
      assert.match(migrated.out, /first superuser created/);

      await using api = await runDetached(TAG, env, ["serve"]);
      await using worker = await runDetached(TAG, env, ["worker"]);
      await using scheduler = await runDetached(TAG, env, ["scheduler"]);
      const base = `http://127.0.0.1:${port}`;
      await waitForHttp(`${base}/readyz`, 200, 60_000).catch(async (error) => {
        throw new Error(`${error.message}\n${await api.logs()}`);
      });
      // The image has no coreutils (no `id`): Deno answers.
      const user = await podman(["exec", api.name, "deno", "eval", "console.log(Deno.uid())"]);
      assert.equal(user.code, 0, user.out);
      assert.notEqual(user.out.trim(), "0", "the app does not run as root");
      const health = await podman(["healthcheck", "run", api.name]);
      assert.equal(health.code, 0, `HEALTHCHECK: ${health.out}`);

      const server = {
        request: (path: string | URL | Request, init?: RequestInit) =>
          fetch(`${base}${path}`, init),
      };
      const auth = bearer(await login(server, env.FIRST_SUPERUSER, "image-password-1"));
      // A job the API queues and the worker container runs (DuckDB included).
      const queued = await fetch(`${base}/api/v1/analytics/export`, {
        method: "POST",
        headers: auth,
      });
      assert.equal(queued.status, 202);
      const { job_id } = await queued.json();
      let state = "";
      await waitFor(async () => {
        const r = await fetch(`${base}/api/v1/jobs/${job_id}/status`, { headers: auth });
        state = (await r.json()).state;
        return state === "completed" || state === "failed";
      }, 30_000);
      assert.equal(state, "completed", await worker.logs());
      assert.match(await worker.logs(), /"msg":"analytics exported"/);
      // The API container reads the export with its own DuckDB (published into Postgres).
      const report = await fetch(`${base}/api/v1/analytics/items_by_user`, { headers: auth });
      assert.equal(report.status, 200, await api.logs());
      const rows = await report.json();
      assert.ok(Array.isArray(rows), JSON.stringify(rows));

      await waitFor(async () => /scheduler ready/.test(await scheduler.logs()), 30_000)
        .catch(async (error) => {
          throw new Error(`${error.message}\n${await scheduler.logs()}`);
        });
      for (const container of [api, worker, scheduler]) {
        const { code, seconds } = await stop(container.name);
        log(`image: ${container.name} stopped by SIGTERM: exit ${code} in ${seconds.toFixed(1)} s`);
        assert.equal(code, 0, await container.logs());
        assert.ok(seconds < SHUTDOWN_SECONDS, `took ${seconds} s`);
      }
      assert.match(await api.logs(), /"msg":"shutting down"/);
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
});
