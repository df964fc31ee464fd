/**
 * Job throughput and latency: our worker against a raw pg-boss
 * fetch(batch 200) + complete(ids) loop with 4 concurrent loops, on the same
 * database in the same run; then the worker draining a queue 1,000,000 deep
 * (inserted in bulk), against its throughput on the shallow queue, with the
 * time of one fetch at each depth; and enqueue-to-start latency on an idle queue.
 *
 * Each fetch is also timed on a pg-boss session without Tusk's planner settings
 * (`BOSS_SESSION_OPTIONS`), at both depths; `--explain` prints both plans at depth.
 * The job table has no statistics throughout (autovacuum off for it): the worst case.
 *
 * Usage: deno task bench:jobs [--jobs 20000] [--depth 1000000] [--runs 5] [--latency 200]
 *                             [--pg 15,16,17,18] [--explain]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres); with
 * --pg, an embedded server of each version in turn.
 *
 * @module
 */
import { z } from "zod";
import { createSql } from "../db/client.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { PgBoss } from "pg-boss";
import { type AnyJob, BOSS_SCHEMA, createBoss, installJobs } from "../jobs/boss.ts";
import { defineJob } from "../jobs/define.ts";
import { groupOf } from "../jobs/limits.ts";
import { setPaused } from "../db/job_queues.ts";
import { startWorker } from "../jobs/worker.ts";
import { createLogger } from "../lib/logging.ts";
import { createMailer } from "../emails/mailer.ts";
import { loadConfig } from "../config.ts";
import { benchArgs, benchDatabase, benchServers, median, percentile } from "./_bench.ts";

const args = benchArgs();
const N = args.jobs ?? 20_000;
const DEPTH = args.depth ?? 1_000_000;
// Rows per boss.insert() call when filling a deep queue: pg-boss's own bulk insert.
const FILL_CHUNK = 10_000;
// Fetches timed at each depth (each of BATCH jobs, completed at once).
const FETCH_SAMPLES = 15;
const RUNS = args.runs ?? 5;
const LATENCY_SAMPLES = args.latency ?? 200;
const BATCH = 200;
const RAW_LOOPS = 4;
const log = createLogger({ level: "error" });

let onStart: (() => void) | undefined;
const noop = defineJob({
  name: "bench-noop",
  schema: z.object({ i: z.number() }),
  policy: { retryLimit: 0, deadLetter: false },
  handler() {
    onStart?.();
  },
});

// The same no-op, limited on 100 keys: 8 at once per key, as many as the worker runs (so what
// it costs is the limiter's own work), and 1 at a time per key (the limit binds: at most 100 run
// at once, each freeing its key only when its completion is written); and a rate limit that
// never binds.
const KEYS = 100;
const keyed = defineJob({
  name: "bench-keyed",
  schema: noop.schema,
  policy: noop.policy,
  concurrency: { key: (data) => String(data.i % KEYS), limit: (RAW_LOOPS * BATCH) / KEYS },
  handler: noop.handler,
});
const keyedOne = defineJob({
  name: "bench-keyed-one",
  schema: noop.schema,
  policy: noop.policy,
  concurrency: { key: (data) => String(data.i % KEYS), limit: 1 },
  handler: noop.handler,
});
const rated = defineJob({
  name: "bench-rated",
  schema: noop.schema,
  policy: noop.policy,
  rateLimit: { limit: 1_000_000, perSeconds: 1 },
  handler: noop.handler,
});

/**
 * Inserts `count` jobs of `job` through pg-boss's bulk insert, `FILL_CHUNK` at a time (with the
 * group a send would give them under a concurrency limit).
 */
async function fill(boss: PgBoss, count: number, job: AnyJob = noop) {
  for (let i = 0; i < count; i += FILL_CHUNK) {
    const n = Math.min(FILL_CHUNK, count - i);
    await boss.insert(
      job.name,
      Array.from({ length: n }, (_, k) => {
        const data = { i: i + k };
        const group = groupOf(job, data);
        return group ? { data, group } : { data };
      }),
    );
  }
}

/** Times `FETCH_SAMPLES` single fetches of a batch at the queue's current depth (ms each). */
async function fetchTimes(boss: PgBoss): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < FETCH_SAMPLES; i++) {
    const t = performance.now();
    const jobs = await boss.fetch(noop.name, { batchSize: BATCH });
    times.push(performance.now() - t);
    if (jobs.length === 0) throw new Error("the queue ran dry while timing fetches");
    await boss.complete(noop.name, jobs.map((j) => j.id));
  }
  return times;
}

/**
 * Runs the worker the `worker` role runs (no-op handler) until `count` jobs started: jobs/s over
 * the whole drain, and over each of `segments` equal parts of it (a deep drain's median part is
 * steadier than its whole: one checkpoint can land in it).
 */
async function drain(
  boss: PgBoss,
  sql: ReturnType<typeof createSql>,
  deps: Parameters<typeof startWorker>[0]["deps"],
  count: number,
  segments = 1,
  job: AnyJob = noop,
): Promise<{ rate: number; parts: number[] }> {
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((r) => finished = r);
  const part = Math.floor(count / segments);
  const parts: number[] = [];
  let partStart = performance.now();
  onStart = () => {
    if (++done % part === 0 && parts.length < segments) {
      const now = performance.now();
      parts.push(part / ((now - partStart) / 1000));
      partStart = now;
    }
    if (done === count) finished();
  };
  const t = performance.now();
  const worker = await startWorker({
    boss,
    listenSql: sql,
    jobs: [job],
    deps,
    options: {
      concurrency: RAW_LOOPS * BATCH,
      batchSize: BATCH,
      pollIntervalMs: 1000,
      shutdownTimeoutMs: 5000,
    },
    log,
  });
  await allDone;
  await worker.stop(); // includes the final completion flush
  return { rate: count / ((performance.now() - t) / 1000), parts };
}

// Parts of the deep drain timed on their own; the figure is their median.
const DEEP_PARTS = 5;

/**
 * Fails the run unless every job of the queue completed; then empties it and
 * vacuums, so each phase starts from the same table rather than from the dead
 * rows of the last (which slowed each run after the first by up to half).
 */
async function expectAllCompleted(sql: ReturnType<typeof createSql>) {
  const [left] = await sql`select count(*)::int as n from pgboss.job where state <> 'completed'`;
  if (left!.n !== 0) throw new Error(`${left!.n} jobs not completed`);
  await sql`delete from pgboss.job`;
  await sql`vacuum pgboss.job`;
}

// A queue kept busy for the pause measure: 10 ms a job, 20 at once (about 2,000 jobs/s).
let onPaced: (() => void) | undefined;
const paced = defineJob({
  name: "bench-paced",
  schema: noop.schema,
  policy: noop.policy,
  async handler() {
    onPaced?.();
    await new Promise((r) => setTimeout(r, 10));
  },
});
const PAUSES = 5;

/**
 * How long after a pause is committed a busy queue's last job starts, `PAUSES` times: a worker
 * hears of it through NOTIFY; jobs it fetched just before still start.
 */
async function pauseLatency(
  boss: PgBoss,
  sql: ReturnType<typeof createSql>,
  deps: Parameters<typeof startWorker>[0]["deps"],
): Promise<number[]> {
  await fill(boss, 20_000, paced);
  let lastStart = 0;
  onPaced = () => lastStart = performance.now();
  const worker = await startWorker({
    boss,
    listenSql: sql,
    jobs: [paced],
    deps,
    options: { concurrency: 20, batchSize: 20, pollIntervalMs: 1000, shutdownTimeoutMs: 5000 },
    log,
  });
  const stops: number[] = [];
  for (let i = 0; i < PAUSES; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await setPaused(sql, paced.name, true);
    const pausedAt = performance.now();
    await new Promise((r) => setTimeout(r, 1500));
    stops.push(Math.max(0, lastStart - pausedAt));
    await setPaused(sql, paced.name, false);
  }
  await worker.stop();
  onPaced = undefined;
  await sql`delete from pgboss.job where name = ${paced.name}`;
  return stops;
}

/** What one server measured, for the summary across `--pg` versions. */
interface Figures {
  server: string;
  raw: number;
  worker: number;
  shallowFetch: number;
  deepFetch: number;
  plainShallowFetch: number;
  plainDeepFetch: number;
  deep: number;
  keyed: number;
  keyedOne: number;
  rated: number;
  pauseStops: number[];
}

/** Runs the benchmark on each server and prints its figures, then a summary of them all. */
export async function main() {
  for (const [option, value] of [["--jobs", N], ["--depth", DEPTH]] as const) {
    if (value < 4 * FETCH_SAMPLES * BATCH) {
      console.error(`bench:jobs: ${option} must be at least ${4 * FETCH_SAMPLES * BATCH}`);
      Deno.exit(2);
    }
  }
  const all: Figures[] = [];
  for (const pg of benchServers(args)) all.push(await measure(pg));
  if (all.length < 2) return;
  console.log(`\nsummary (one fetch of ${BATCH}: median ms; drain: jobs/s)`);
  console.log(
    "server | fetch at " + N + " | fetch at " + DEPTH + " | deep/shallow | pg-boss defaults " +
      "at " + N + " / " + DEPTH + " | worker | drain at " + DEPTH + " | drain/worker",
  );
  for (const f of all) {
    console.log(
      [
        f.server,
        f.shallowFetch.toFixed(1),
        f.deepFetch.toFixed(1),
        (f.deepFetch / f.shallowFetch).toFixed(2),
        `${f.plainShallowFetch.toFixed(1)} / ${f.plainDeepFetch.toFixed(1)}`,
        Math.round(f.worker),
        Math.round(f.deep),
        (f.deep / f.worker).toFixed(2),
      ].join(" | "),
    );
  }
}

/**
 * pg-boss as it comes, without Tusk's planner settings (`BOSS_SESSION_OPTIONS`):
 * the baseline for the fetch at depth.
 */
function plainBoss(url: string): PgBoss {
  const boss = new PgBoss({
    connectionString: url,
    schema: BOSS_SCHEMA,
    max: 2,
    migrate: false,
    supervise: false,
    schedule: false,
    registerInstance: false,
  });
  boss.on("error", (error) => log.error("plain pg-boss", { error }));
  return boss;
}

/**
 * Prints the plan of one fetch of a batch, run under EXPLAIN (ANALYZE, BUFFERS),
 * then puts the jobs it claimed back in the queue.
 */
async function explainFetch(boss: PgBoss, sql: ReturnType<typeof createSql>, label: string) {
  const db = boss.getDb();
  let plan: string[] = [];
  await boss.fetch(noop.name, {
    batchSize: BATCH,
    db: {
      async executeSql(text: string, values?: unknown[]) {
        const { rows } = await db.executeSql(`explain (analyze, buffers) ${text}`, values);
        plan = rows.map((r: Record<string, string>) => r["QUERY PLAN"]!);
        return { rows: [] };
      },
    },
  });
  console.log(`\n${label}:\n${plan.join("\n")}\n`);
  await sql`update pgboss.job set state = 'created', started_on = null where state = 'active'`;
}

/** Jobs waiting to start. */
async function waiting(sql: ReturnType<typeof createSql>): Promise<number> {
  const [row] = await sql`select count(*)::int as n from pgboss.job where state = 'created'`;
  return row!.n;
}

/** One run of the benchmark on one server (`pg`: an embedded version, see `--pg`). */
async function measure(pg?: string): Promise<Figures> {
  await using db = await benchDatabase("jobs", pg);
  const dbUrl = db.url;
  const sql = createSql(dbUrl, { role: "cli", poolSize: 4 });
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(dbUrl, [noop, keyed, keyedOne, rated, paced], log);
    // Measured without statistics, whatever the server's autovacuum does: the worst case, and what
    // a burst meets before autovacuum's next ANALYZE (or ever, with autovacuum off).
    await sql`alter table pgboss.job_common set (autovacuum_enabled = false)`;
    const boss = createBoss(dbUrl, { role: "bench", log, poolSize: 10 });
    await boss.start();
    const plain = plainBoss(dbUrl);
    await plain.start();
    const config = loadConfig({ SECRET_KEY: "bench", EMAIL_TRANSPORT: "off" });
    const deps = { sql, config, mailer: createMailer(config, log), log };

    const raw: number[] = [];
    const ours: number[] = [];
    const shallowFetch: number[] = [];
    const plainShallowFetch: number[] = [];
    const keyedRates: number[] = [];
    const keyedOneRates: number[] = [];
    const ratedRates: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Baseline: the fastest plain use of pg-boss, with no handler, slots or error handling.
      await fill(boss, N);
      const t = performance.now();
      await Promise.all(Array.from({ length: RAW_LOOPS }, async () => {
        for (;;) {
          const jobs = await boss.fetch(noop.name, { batchSize: BATCH });
          if (jobs.length === 0) return;
          await boss.complete(noop.name, jobs.map((j) => j.id));
        }
      }));
      raw.push(N / ((performance.now() - t) / 1000));
      await expectAllCompleted(sql);

      // Ours: the worker the `worker` role runs, with a no-op handler.
      await fill(boss, N);
      shallowFetch.push(...await fetchTimes(boss));
      plainShallowFetch.push(...await fetchTimes(plain));
      ours.push((await drain(boss, sql, deps, await waiting(sql))).rate);
      await expectAllCompleted(sql);

      // The same worker with a limit: one at a time per key on 100 keys; a rate that never binds.
      const limited = [[keyed, keyedRates], [keyedOne, keyedOneRates], [
        rated,
        ratedRates,
      ]] as const;
      for (const [job, rates] of limited) {
        await fill(boss, N, job);
        rates.push((await drain(boss, sql, deps, N, 1, job)).rate);
        await expectAllCompleted(sql);
      }
    }

    // Depth: one queue DEPTH jobs deep, drained by one worker.
    const t = performance.now();
    await fill(boss, DEPTH);
    const fillSeconds = (performance.now() - t) / 1000;
    if (args.explain) {
      await explainFetch(plain, sql, `the fetch at depth ${DEPTH}, pg-boss's own session settings`);
      await explainFetch(boss, sql, `the fetch at depth ${DEPTH}, Tusk's (BOSS_SESSION_OPTIONS)`);
    }
    const deepFetch = await fetchTimes(boss);
    const plainDeepFetch = await fetchTimes(plain);
    const deepDrain = await drain(boss, sql, deps, await waiting(sql), DEEP_PARTS);
    const deep = median(deepDrain.parts);
    await expectAllCompleted(sql);

    const pauseStops = await pauseLatency(boss, sql, deps);

    // Latency: one job at a time on an idle queue, from send() to the handler starting.
    const latencies: number[] = [];
    const worker = await startWorker({
      boss,
      listenSql: sql,
      jobs: [noop],
      deps,
      options: { concurrency: 20, batchSize: 100, pollIntervalMs: 1000, shutdownTimeoutMs: 5000 },
      log,
    });
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = new Promise<number>((resolve) => onStart = () => resolve(performance.now()));
      const sent = performance.now();
      await boss.send(noop.name, { i });
      latencies.push((await started) - sent);
      await new Promise((r) => setTimeout(r, 20));
    }
    await worker.stop();
    await plain.stop({ graceful: false });
    await boss.stop({ graceful: false });

    const figures: Figures = {
      server: db.server,
      raw: median(raw),
      worker: median(ours),
      shallowFetch: median(shallowFetch),
      deepFetch: median(deepFetch),
      plainShallowFetch: median(plainShallowFetch),
      plainDeepFetch: median(plainDeepFetch),
      deep,
      keyed: median(keyedRates),
      keyedOne: median(keyedOneRates),
      rated: median(ratedRates),
      pauseStops,
    };
    console.log(
      `${db.server}: jobs per run: ${N}, runs: ${RUNS}, batch: ${BATCH}, ` +
        `cores: ${navigator.hardwareConcurrency}, no statistics on the job table`,
    );
    console.log(
      `raw fetch+complete x${RAW_LOOPS}: median ${Math.round(figures.raw)} jobs/s  (runs: ${
        raw.map(Math.round).join(", ")
      })`,
    );
    console.log(
      `tusk worker:            median ${Math.round(figures.worker)} jobs/s  (runs: ${
        ours.map(Math.round).join(", ")
      })`,
    );
    console.log(`ratio tusk/raw: ${(figures.worker / figures.raw).toFixed(2)}`);
    console.log(
      `one fetch of ${BATCH} at depth ${N}: median ${figures.shallowFetch.toFixed(1)} ms ` +
        `(pg-boss's own session settings: ${figures.plainShallowFetch.toFixed(1)} ms)`,
    );
    console.log(
      `depth ${DEPTH}: filled in ${fillSeconds.toFixed(1)} s (${
        Math.round(DEPTH / fillSeconds)
      } jobs/s); one fetch of ${BATCH}: median ${figures.deepFetch.toFixed(1)} ms, ${
        (figures.deepFetch / figures.shallowFetch).toFixed(2)
      } of its ${N}-deep time (pg-boss's own session settings: ${
        figures.plainDeepFetch.toFixed(1)
      } ms); tusk worker drained it at a median ${
        Math.round(deep)
      } jobs/s over its ${DEEP_PARTS} ` +
        `parts (${deepDrain.parts.map(Math.round).join(", ")}; ${
          Math.round(deepDrain.rate)
        } over the whole), ${(deep / figures.worker).toFixed(2)} of its ${N}-job figure`,
    );
    const share = (rate: number, runs: number[]) =>
      `${Math.round(rate)} jobs/s, ${(rate / figures.worker).toFixed(2)} of the plain worker ` +
      `(runs ${runs.map(Math.round).join(", ")})`;
    console.log(
      `limits, ${N} jobs per run, ${KEYS} keys: ${keyed.concurrency!.limit} at once per key ${
        share(figures.keyed, keyedRates)
      }; 1 at a time per key ${share(figures.keyedOne, keyedOneRates)}; a rate limit that ` +
        `never binds ${share(figures.rated, ratedRates)}`,
    );
    console.log(
      `pause to the last start, ${PAUSES} pauses of a busy queue: median ${
        median(pauseStops).toFixed(0)
      } ms, most ${Math.max(...pauseStops).toFixed(0)} ms (${
        pauseStops.map((ms) => ms.toFixed(0)).join(", ")
      })`,
    );
    console.log(
      `enqueue-to-start latency (${LATENCY_SAMPLES} single jobs, idle queue): median ${
        median(latencies).toFixed(1)
      } ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );
    return figures;
  } finally {
    await sql.end();
  }
}

if (import.meta.main) await main();
