/**
 * A real database outage: a Postgres of the test's own is stopped in
 * immediate mode (a crash, as far as clients can tell) while eight clients
 * write items and jobs are enqueued, then started again on the same data
 * directory. The API, worker and scheduler run as real processes throughout.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { PgBoss } from "pg-boss";
import { createSql, type Sql } from "../db/client.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../db/embedded/mod.ts";
import { listenReliably } from "../db/listen.ts";
import { createBoss, installJobs, startBoss } from "../jobs/boss.ts";
import { createLogger } from "../lib/logging.ts";
import { TEST_SECRET } from "./_app.ts";
import { freePort, startTusk, TEST_ROLE_ENTRY, type TuskProcess, waitForHttp } from "./process.ts";
import { readSse } from "./_sse.ts";
import { EFFECTS_TABLE_SQL, recordOnce, TEST_JOBS } from "./fixtures/test_jobs.ts";

const CLIENTS = 8;
const DOWN_MS = 3000;
const ACQUIRE_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;
// The longest any request may take: a request makes a few queries, each bounded by the waits above.
const SLOWEST_ALLOWED_MS = 2 * ACQUIRE_TIMEOUT_MS + CONNECT_TIMEOUT_MS + 1500;
const SUPERUSER = "outage@example.com";
const PASSWORD = "outage-password-1";

interface Answer {
  status: number;
  ms: number;
  id?: string;
  detail?: string;
  retryAfter?: string | null;
}

/** A Postgres cluster of this test's own, in a temp dir, on a free port. */
async function ownPostgres() {
  const dir = await Deno.makeTempDir({ prefix: "tusk-outage-" });
  // Postgres runs as the postgres OS user when we are root: it must reach its data dir.
  await Deno.chmod(dir, 0o755);
  const options = { dir: join(dir, "pg"), port: freePort() };
  let server: EmbeddedPostgres = await startEmbeddedPostgres(options);
  return {
    get url() {
      return server.url;
    },
    crash: () => server.stop({ mode: "immediate" }),
    async restart() {
      server = await startEmbeddedPostgres(options);
    },
    async [Symbol.asyncDispose]() {
      await server.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function timed(request: () => Promise<Response>): Promise<Answer> {
  const started = performance.now();
  let res: Response;
  try {
    res = await request();
  } catch (error) {
    // No HTTP answer at all (the API is down): the worst outcome, recorded as status 0.
    return { status: 0, ms: performance.now() - started, detail: String(error) };
  }
  const body = await res.json().catch(() => ({}));
  return {
    status: res.status,
    ms: performance.now() - started,
    id: res.status === 200 ? body.id : undefined,
    detail: body.detail,
    retryAfter: res.headers.get("retry-after"),
  };
}

/** Keeps `CLIENTS` writers busy until `stop` is set; every answer is kept. */
function writeItems(base: string, token: string, stop: { now: boolean }) {
  const answers: Answer[] = [];
  const writers = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let i = 0; !stop.now; i++) {
      const answer = await timed(() =>
        fetch(`${base}/api/v1/items/`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ title: `outage ${client}-${i}` }),
        })
      );
      answers.push(answer);
      // Answered 503: back off a little, as a client honouring Retry-After would (but shorter).
      if (answer.status === 503) await new Promise((r) => setTimeout(r, 50));
    }
  });
  return { answers, done: Promise.all(writers) };
}

/** Enqueues a job every 50 ms until `stop`; returns the ids pg-boss acknowledged. */
function enqueueJobs(boss: PgBoss, stop: { now: boolean }) {
  const acknowledged: string[] = [];
  const done = (async () => {
    for (let i = 0; !stop.now; i++) {
      try {
        const id = await boss.send(recordOnce.name, { key: `job-${i}`, ms: 200 });
        if (id) acknowledged.push(id);
      } catch { /* not acknowledged: the database is down */ }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { acknowledged, done };
}

/** `/readyz` polled every 100 ms: when it said what, and how long it took. */
function watchReadiness(base: string, stop: { now: boolean }) {
  const answers: (Answer & { at: number })[] = [];
  const done = (async () => {
    while (!stop.now) {
      const at = performance.now();
      answers.push({ ...(await timed(() => fetch(`${base}/readyz`))), at });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { answers, done };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopCleanly(proc: TuskProcess, name: string) {
  proc.kill("SIGTERM");
  const status = await proc.status;
  assert.equal(status.code, 0, `${name} did not stop cleanly:\n${proc.output()}`);
}

function countLines(output: string, pattern: RegExp): number {
  return output.split("\n").filter((line) => pattern.test(line)).length;
}

Deno.test("a database crash under load: 503s, no 500s, bounded waits, nothing acknowledged lost, every role recovers", async () => {
  await using pg = await ownPostgres();
  const apiPort = freePort();
  const base = `http://127.0.0.1:${apiPort}`;
  const env = {
    ENVIRONMENT: "production",
    DATABASE_URL: pg.url,
    SECRET_KEY: TEST_SECRET,
    FIRST_SUPERUSER: SUPERUSER,
    FIRST_SUPERUSER_PASSWORD: PASSWORD,
    PORT: String(apiPort),
    EMAIL_TRANSPORT: "off",
    DATABASE_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS),
    DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    JOBS_SUPERVISE_INTERVAL_SECONDS: "1",
    SCHEDULER_INTERVAL_SECONDS: "1",
    LOG_LEVEL: "warn",
  };

  const migrate = startTusk(["migrate", "up"], env);
  assert.equal((await migrate.status).code, 0, migrate.output());
  const log = createLogger({ level: "error" });
  await installJobs(pg.url, TEST_JOBS, log);
  const sql: Sql = createSql(pg.url, { role: "test", poolSize: 2 });
  await using _sql = { [Symbol.asyncDispose]: () => sql.end() };
  await sql.unsafe(EFFECTS_TABLE_SQL);

  await using api = startTusk(["serve"], env);
  await using worker = startTusk(["worker"], env, { entry: TEST_ROLE_ENTRY });
  await using scheduler = startTusk(["scheduler"], env, { entry: TEST_ROLE_ENTRY });
  await waitForHttp(`${base}/readyz`, 200, 60_000);
  const login = await fetch(`${base}/api/v1/login/access-token`, {
    method: "POST",
    body: new URLSearchParams({ username: SUPERUSER, password: PASSWORD }),
  });
  const { access_token: token } = await login.json();
  assert.ok(token, "login failed");

  const boss = createBoss(pg.url, { role: "test", log });
  await startBoss(boss);
  await using _boss = { [Symbol.asyncDispose]: () => boss.stop({ graceful: false }) };

  const heard: string[] = [];
  const listening = await listenReliably(sql, "outage_test", { onNotify: (p) => heard.push(p) });
  await using _listening = { [Symbol.asyncDispose]: () => listening.stop() };

  // A live event stream open throughout: the outage must cost it nothing.
  const streamed: { id: string; row_id: string }[] = [];
  const stream = readSse(
    await fetch(`${base}/api/v1/events?tables=items`, {
      headers: { Authorization: `Bearer ${token}` },
    }),
  );
  const following = (async () => {
    for (;;) {
      const event = await stream.next(60_000).catch(() => undefined);
      if (event === undefined) return;
      streamed.push({ id: event.id!, row_id: (event.data as { row_id: string }).row_id });
    }
  })();

  const stop = { now: false };
  const writes = writeItems(base, token, stop);
  const jobs = enqueueJobs(boss, stop);
  const readiness = watchReadiness(base, stop);
  await new Promise((r) => setTimeout(r, 1500));

  const crashedAt = performance.now();
  await pg.crash();
  await new Promise((r) => setTimeout(r, DOWN_MS));
  await pg.restart();
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, "ready").catch(
    (e) => {
      console.log("API", api.output().slice(-6000));
      console.log("WORKER", worker.output().slice(-3000));
      console.log("SCHED", scheduler.output().slice(-3000));
      throw e;
    },
  );
  await new Promise((r) => setTimeout(r, 2000));
  stop.now = true;
  await Promise.all([writes.done, jobs.done, readiness.done]);

  const answers = writes.answers;
  const by = (status: number) => answers.filter((a) => a.status === status);
  const slowest = Math.max(...answers.map((a) => a.ms));
  console.log(
    `outage: ${answers.length} writes, ${by(200).length} × 200, ${by(503).length} × 503, ` +
      `slowest ${slowest.toFixed(0)} ms; ${jobs.acknowledged.length} jobs acknowledged`,
  );
  assert.deepEqual(
    answers.filter((a) => a.status !== 200 && a.status !== 503),
    [],
    `every write is answered 200 or 503; API output:\n${api.output()}`,
  );
  assert.ok(by(503).length > 0, "the outage was noticed");
  for (const unavailable of by(503)) {
    assert.equal(unavailable.detail, "Database unavailable, try again shortly");
    assert.ok(Number(unavailable.retryAfter) > 0, "503 carries Retry-After");
  }
  assert.ok(slowest < SLOWEST_ALLOWED_MS, `slowest write took ${slowest} ms`);

  // Readiness said so during the outage, promptly, and came back by itself.
  const down = readiness.answers.filter((a) =>
    a.at > crashedAt + 500 && a.at + a.ms < crashedAt + DOWN_MS
  );
  assert.ok(down.length > 0 && down.every((a) => a.status === 503), "readyz 503 while down");
  assert.ok(Math.max(...readiness.answers.map((a) => a.ms)) < 2500, "readyz never hangs");

  // Every write the API acknowledged survived the crash.
  const ids = by(200).map((a) => a.id!);
  const [row] = await sql`select count(*)::int as present from items where id = any(${ids})`;
  assert.equal(row?.present, ids.length, "acknowledged writes lost");

  // The stream stayed open and got every acknowledged write, once each, in id order.
  await waitFor(
    () => Promise.resolve(ids.every((id) => streamed.some((e) => e.row_id === id))),
    10_000,
    "every acknowledged write streamed",
  ).catch((error) => {
    const missing = ids.filter((id) => !streamed.some((e) => e.row_id === id));
    throw new Error(`${error.message}: ${missing.length} of ${ids.length} missing`);
  });
  assert.equal(new Set(streamed.map((e) => e.row_id)).size, streamed.length, "none twice");
  const order = streamed.map((e) => Number(e.id));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), "in id order");
  await stream.close();
  await following;

  // Every acknowledged job runs, the ones in flight at the crash included.
  await waitFor(
    async () => {
      const [row] = await sql`
        select count(*)::int as done from pgboss.job
        where id = any(${jobs.acknowledged}::uuid[]) and state = 'completed'`;
      return row?.done === jobs.acknowledged.length;
    },
    45_000,
    "acknowledged jobs completed",
  ).catch(async (error) => {
    const states = await sql`
      select state::text, count(*)::int as n, max(retry_count) as retries from pgboss.job
      where id = any(${jobs.acknowledged}::uuid[]) group by 1`;
    throw new Error(`${error.message}: ${JSON.stringify(states)}\n${worker.output()}`);
  });

  // A job sent now runs, and every listener in every role is listening again.
  const late = await boss.send(recordOnce.name, { key: "after-restart" });
  await waitFor(
    async () => (await sql`select 1 from job_effects where key = 'after-restart'`).length === 1,
    10_000,
    "a job sent after the restart ran",
  );
  assert.ok(late);
  assert.match(worker.output(), /job wake-up listener reconnected/);
  for (const proc of [api, worker, scheduler]) {
    assert.match(proc.output(), /feature flag listener reconnected/);
  }
  await waitFor(
    async () => {
      await sql`select pg_notify('outage_test', 'after')`;
      return heard.includes("after");
    },
    10_000,
    "a notification after the restart",
  );

  // Logged once per outage and place, at warn, not once per request, poll or retry.
  assert.equal(countLines(api.output(), /answering 503 until it is back/), 1, api.output());
  for (
    const [name, proc] of [["api", api], ["worker", worker], ["scheduler", scheduler]] as const
  ) {
    assert.doesNotMatch(proc.output(), /"level":"error"/, `${name}:\n${proc.output()}`);
    assert.ok(countLines(proc.output(), /"level":"warn"/) <= 6, `${name}:\n${proc.output()}`);
  }
  await stopCleanly(api, "api");
  await stopCleanly(worker, "worker");
  await stopCleanly(scheduler, "scheduler");
});
