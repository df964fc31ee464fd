/**
 * Job throughput and latency: our worker against a raw pg-boss
 * fetch(batch 200) + complete(ids) loop with 4 concurrent loops, on the same
 * database in the same run; then the worker draining a queue 1,000,000 deep
 * (inserted in bulk), against its throughput on the shallow queue, with the
 * time of one fetch at each depth; and enqueue-to-start latency on an idle queue.
 *
 * Usage: deno task bench:jobs [--jobs 20000] [--depth 1000000] [--runs 5] [--latency 200]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 *
 * @module
 */
import { z } from "zod";
import { createSql } from "../db/client.ts";
import { createBoss, installJobs } from "../jobs/boss.ts";
import { defineJob } from "../jobs/define.ts";
import { startWorker } from "../jobs/worker.ts";
import { createLogger } from "../lib/logging.ts";
import { createMailer } from "../emails/mailer.ts";
import { loadConfig } from "../config.ts";
import { benchArgs, benchDatabase, median, percentile } from "./_bench.ts";

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

type Boss = ReturnType<typeof createBoss>;

/** Inserts `count` no-op jobs through pg-boss's bulk insert, `FILL_CHUNK` at a time. */
async function fill(boss: Boss, count: number) {
  for (let i = 0; i < count; i += FILL_CHUNK) {
    const n = Math.min(FILL_CHUNK, count - i);
    await boss.insert(noop.name, Array.from({ length: n }, (_, k) => ({ data: { i: i + k } })));
  }
}

/** Times `FETCH_SAMPLES` single fetches of a batch at the queue's current depth (ms each). */
async function fetchTimes(boss: Boss): Promise<number[]> {
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

/** Runs the worker the `worker` role runs (no-op handler) until `count` jobs started: jobs/s. */
async function drain(
  boss: Boss,
  sql: ReturnType<typeof createSql>,
  deps: Parameters<typeof startWorker>[0]["deps"],
  count: number,
): Promise<number> {
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((r) => finished = r);
  onStart = () => {
    if (++done === count) finished();
  };
  const t = performance.now();
  const worker = await startWorker({
    boss,
    listenSql: sql,
    jobs: [noop],
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
  return count / ((performance.now() - t) / 1000);
}

/**
 * Fails the run unless every job of the queue completed; then empties it and
 * vacuums, so each phase starts from the same table rather than from the dead
 * rows of the last (which slowed each run after the first by up to half).
 */
async function expectAllCompleted(sql: ReturnType<typeof createSql>) {
  const [left] = await sql`select count(*)::int as n from pgboss.job where state <> 'completed'`;
  if (left!.n !== 0) throw new Error(`${left!.n} jobs not completed`);
  await sql`delete from pgboss.job`;
  await sql`vacuum analyze pgboss.job`;
}

/** Runs the benchmark and prints its figures. */
export async function main() {
  for (const [option, value] of [["--jobs", N], ["--depth", DEPTH]] as const) {
    if (value < 2 * FETCH_SAMPLES * BATCH) {
      console.error(`bench:jobs: ${option} must be at least ${2 * FETCH_SAMPLES * BATCH}`);
      Deno.exit(2);
    }
  }
  await using db = await benchDatabase("jobs");
  const dbUrl = db.url;
  const sql = createSql(dbUrl, { role: "cli", poolSize: 4 });
  try {
    await installJobs(dbUrl, [noop], log);
    const boss = createBoss(dbUrl, { role: "bench", log, poolSize: 10 });
    await boss.start();
    const config = loadConfig({ SECRET_KEY: "bench", EMAIL_TRANSPORT: "off" });
    const deps = { sql, config, mailer: createMailer(config, log), log };

    const raw: number[] = [];
    const ours: number[] = [];
    const shallowFetch: number[] = [];
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
      ours.push(await drain(boss, sql, deps, N - FETCH_SAMPLES * BATCH));
      await expectAllCompleted(sql);
    }

    // Depth: one queue DEPTH jobs deep, drained by one worker.
    let fillSeconds = 0;
    let deepFetch: number[] = [];
    let deep = 0;
    if (DEPTH > 0) {
      const t = performance.now();
      await fill(boss, DEPTH);
      fillSeconds = (performance.now() - t) / 1000;
      deepFetch = await fetchTimes(boss);
      deep = await drain(boss, sql, deps, DEPTH - FETCH_SAMPLES * BATCH);
      await expectAllCompleted(sql);
    }

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
    await boss.stop({ graceful: false });

    const rawMedian = median(raw);
    const oursMedian = median(ours);
    console.log(
      `jobs per run: ${N}, runs: ${RUNS}, batch: ${BATCH}, cores: ${navigator.hardwareConcurrency}`,
    );
    console.log(
      `raw fetch+complete x${RAW_LOOPS}: median ${Math.round(rawMedian)} jobs/s  (runs: ${
        raw.map(Math.round).join(", ")
      })`,
    );
    console.log(
      `tusk worker:            median ${Math.round(oursMedian)} jobs/s  (runs: ${
        ours.map(Math.round).join(", ")
      })`,
    );
    console.log(`ratio tusk/raw: ${(oursMedian / rawMedian).toFixed(2)}`);
    console.log(
      `one fetch of ${BATCH} at depth ${N}: median ${median(shallowFetch).toFixed(1)} ms`,
    );
    if (DEPTH > 0) {
      console.log(
        `depth ${DEPTH}: filled in ${fillSeconds.toFixed(1)} s (${
          Math.round(DEPTH / fillSeconds)
        } jobs/s); one fetch of ${BATCH}: median ${median(deepFetch).toFixed(1)} ms; ` +
          `tusk worker drained it at ${Math.round(deep)} jobs/s, ${
            (deep / oursMedian).toFixed(2)
          } of its ${N}-job figure`,
      );
    }
    console.log(
      `enqueue-to-start latency (${LATENCY_SAMPLES} single jobs, idle queue): median ${
        median(latencies).toFixed(1)
      } ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );
  } finally {
    await sql.end();
  }
}

if (import.meta.main) await main();
