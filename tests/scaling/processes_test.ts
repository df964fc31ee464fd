/**
 * Many processes, one database: 3 API processes, 3 workers and 2 schedulers
 * as real processes, under writes and jobs; one of each role is killed with
 * SIGKILL mid-run and started again. Every acknowledged write is there,
 * every acknowledged job ran and completed (the killed worker's jobs
 * expired and ran again elsewhere; the handler is idempotent), a flag
 * change reached every API process, and no cron tick was sent twice. Again
 * through PgBouncer, without schedulers.
 */
import assert from "node:assert/strict";
import { createBoss, installJobs, startBoss } from "../../jobs/boss.ts";
import { createLogger } from "../../lib/logging.ts";
import { TEST_SECRET } from "../_app.ts";
import { migratedDatabase, type TestDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { HAS_PGBOUNCER, startPgBouncer } from "../_pgbouncer.ts";
import {
  listeningPort,
  startTusk,
  TEST_ROLE_ENTRY,
  type TuskProcess,
  waitForHttp,
} from "../process.ts";
import { EFFECTS_TABLE_SQL, recordOnce, TEST_JOBS } from "../fixtures/test_jobs.ts";

const SERVER_KEY = "processes-scaling-server-key-0123456789abcdef";
const LOAD_MS = 6000;

interface Fleet {
  apis: { port: number; proc: TuskProcess }[];
  workers: TuskProcess[];
  schedulers: TuskProcess[];
}

/** Starts `serve` on a port of its own choosing: no other process can take it first. */
function startApi(env: Record<string, string>) {
  return { port: 0, proc: startTusk(["serve"], { ...env, PORT: "0" }) };
}

/** Notes the port `api` listens on, once it says, and waits until it is ready. */
async function ready(api: { port: number; proc: TuskProcess }) {
  api.port = await listeningPort(api.proc);
  await (await waitForHttp(`http://127.0.0.1:${api.port}/readyz`, 200, 60_000)).body?.cancel();
}

function startRole(role: "worker" | "scheduler", env: Record<string, string>) {
  return startTusk([role], env, { entry: TEST_ROLE_ENTRY });
}

/** Every process's output, for a failure message. */
function outputs(fleet: Fleet): string {
  return [
    ...fleet.apis.map((a, i) => `API ${i}:\n${a.proc.output().slice(-3000)}`),
    ...fleet.workers.map((w, i) => `WORKER ${i}:\n${w.output().slice(-3000)}`),
    ...fleet.schedulers.map((s, i) => `SCHEDULER ${i}:\n${s.output().slice(-3000)}`),
  ].join("\n");
}

async function run(db: TestDatabase, env: Record<string, string>, sendUrl: string, cron: boolean) {
  const admin = await makeUser(db.sql, { superuser: true });
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  const log = createLogger({ level: "error" });
  await installJobs(db.url, TEST_JOBS, log);
  await db.sql`insert into feature_flags (codename, is_active, client_visible)
    values ('FF_FLEET', false, true)`;
  const all = {
    ...env,
    SECRET_KEY: TEST_SECRET,
    EMAIL_TRANSPORT: "off",
    FLAGS_SERVER_KEY: SERVER_KEY,
    WORKER_POLL_INTERVAL_MS: "200",
    JOBS_SUPERVISE_INTERVAL_SECONDS: "1",
    SCHEDULER_INTERVAL_SECONDS: "1",
  };
  const fleet: Fleet = {
    apis: [0, 1, 2].map(() => startApi(all)),
    workers: [0, 1, 2].map(() => startRole("worker", all)),
    schedulers: cron ? [0, 1].map(() => startRole("scheduler", all)) : [],
  };
  const everyone = () => [
    ...fleet.apis.map((a) => a.proc),
    ...fleet.workers,
    ...fleet.schedulers,
  ];
  try {
    for (const api of fleet.apis) await ready(api);
    const login = await fetch(`http://127.0.0.1:${fleet.apis[0]!.port}/api/v1/login/access-token`, {
      method: "POST",
      body: new URLSearchParams({ username: admin.email, password: admin.password }),
    });
    const auth = { Authorization: `Bearer ${(await login.json()).access_token}` };

    // Load: items round-robin over the API processes, jobs sent through `sendUrl`.
    const stop = { now: false };
    const acknowledged: string[] = [];
    const writes = (async () => {
      for (let i = 0; !stop.now; i++) {
        const { port } = fleet.apis[i % fleet.apis.length]!;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/v1/items/`, {
            method: "POST",
            headers: { ...auth, "Content-Type": "application/json" },
            body: JSON.stringify({ title: `fleet ${i}` }),
          });
          if (res.status === 200) acknowledged.push((await res.json()).id);
          else await res.body?.cancel();
        } catch { /* a killed process: not acknowledged */ }
      }
    })();
    const boss = createBoss(sendUrl, { role: "test", log, sessions: sendUrl === db.url });
    await startBoss(boss);
    const sent: string[] = [];
    const ids: string[] = [];
    const jobs = (async () => {
      for (let i = 0; !stop.now; i++) {
        const id = await boss.send(recordOnce.name, { key: `fleet-${i}`, ms: 20 });
        if (id) {
          sent.push(`fleet-${i}`);
          ids.push(id);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // Mid-run: one of each role killed outright, then started again.
    await new Promise((r) => setTimeout(r, LOAD_MS / 3));
    fleet.apis[0]!.proc.kill("SIGKILL");
    fleet.workers[0]!.kill("SIGKILL");
    fleet.schedulers[0]?.kill("SIGKILL");
    await fleet.apis[0]!.proc.status;
    await fleet.workers[0]!.status;
    await fleet.schedulers[0]?.status;
    await new Promise((r) => setTimeout(r, 500));
    fleet.apis[0] = startApi(all);
    fleet.workers[0] = startRole("worker", all);
    if (cron) fleet.schedulers[0] = startRole("scheduler", all);
    await ready(fleet.apis[0]);
    await new Promise((r) => setTimeout(r, (LOAD_MS * 2) / 3));
    stop.now = true;
    await Promise.all([writes, jobs]);
    await boss.stop({ graceful: false });

    // Every acknowledged write is there.
    const [present] = await db
      .sql`select count(*)::int as n from items where id = any(${acknowledged})`;
    assert.equal(present!.n, acknowledged.length, "acknowledged writes lost");
    assert.ok(acknowledged.length > 50, `only ${acknowledged.length} writes`);

    // Every acknowledged job ran; its effect is recorded once.
    await waitUntil("every job's effect", 45_000, async () => {
      const [row] = await db.sql`select count(*)::int as n from job_effects
        where key = any(${sent})`;
      return row!.n === sent.length;
    }, () => outputs(fleet));
    // ...and completed: none left active by the killed worker.
    await waitUntil("every job completed", 30_000, async () => {
      const [row] = await db.sql`select count(*)::int as n from pgboss.job
        where id = any(${ids}::uuid[]) and state = 'completed'`;
      return row!.n === ids.length;
    });

    // A flag change reaches every API process, the restarted one included.
    await db.sql`update feature_flags set is_active = true where codename = 'FF_FLEET'`;
    await waitUntil("the flag on every API process", 5000, async () => {
      const values = await Promise.all(fleet.apis.map(async ({ port }) => {
        const res = await fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/FF_FLEET`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: "{}",
        });
        return (await res.json()).value;
      }));
      return values.every((v) => v === true);
    }, () => outputs(fleet));

    if (cron) {
      // However many schedulers ran, killed and restarted, no minute's tick was sent twice (that
      // each tick is sent, tests/jobs/processes_test.ts waits out minute boundaries to show).
      const ticks = await db.sql`select date_trunc('minute', created_on) as minute,
        count(*)::int as n from pgboss.job where name = 'test-tick' group by 1`;
      assert.deepEqual(ticks.filter((t) => t.n !== 1), [], "a tick sent twice");
    }
    for (const proc of everyone()) {
      assert.doesNotMatch(proc.output(), /"level":"error"/, proc.output().slice(-3000));
    }
    return { writes: acknowledged.length, jobs: sent.length };
  } finally {
    for (const proc of everyone()) await proc[Symbol.asyncDispose]();
  }
}

/** Polls `check` until it holds; a timeout or a failed check carries `detail()`, if given. */
async function waitUntil(
  what: string,
  ms: number,
  check: () => Promise<boolean>,
  detail?: () => string,
) {
  const deadline = Date.now() + ms;
  try {
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    if (detail === undefined) throw error;
    throw new Error(`${(error as Error).message}\n${detail()}`, { cause: error });
  }
}

Deno.test("3 API processes, 3 workers and 2 schedulers, one of each killed: nothing lost, once each", async () => {
  await using db = await migratedDatabase();
  const { writes, jobs } = await run(db, { DATABASE_URL: db.url }, db.url, true);
  console.log(`fleet: ${writes} writes and ${jobs} jobs acknowledged, all there, each job once`);
});

Deno.test({
  name: "the same fleet through PgBouncer: nothing lost, once each",
  ignore: !HAS_PGBOUNCER,
}, async () => {
  await using db = await migratedDatabase();
  await using bouncer = await startPgBouncer(db.url, 20);
  const { writes, jobs } = await run(
    db,
    {
      DATABASE_URL: bouncer.url,
      DATABASE_DIRECT_URL: db.url,
    },
    bouncer.url,
    false,
  );
  console.log(`fleet through PgBouncer: ${writes} writes and ${jobs} jobs, all there, each once`);
});
