/**
 * Job throughput and latency: our worker against a raw pg-boss
 * fetch(batch 200) + complete(ids) loop with 4 concurrent loops, on the same
 * database in the same run, and enqueue-to-start latency on an idle queue.
 *
 * Usage: deno task bench:jobs [--jobs 20000] [--runs 5] [--latency 200]
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

/** Runs the benchmark and prints its figures. */
export async function main() {
  await using db = await benchDatabase("jobs");
  const dbUrl = db.url;
  const sql = createSql(dbUrl, { role: "cli", poolSize: 4 });
  try {
    await installJobs(dbUrl, [noop], log);
    const boss = createBoss(dbUrl, { role: "bench", log, poolSize: 10 });
    await boss.start();
    const rows = Array.from({ length: N }, (_, i) => ({ data: { i } }));
    const fill = async () => {
      for (let i = 0; i < N; i += 5000) await boss.insert(noop.name, rows.slice(i, i + 5000));
    };
    const config = loadConfig({ SECRET_KEY: "bench", EMAIL_TRANSPORT: "off" });
    const deps = { sql, config, mailer: createMailer(config, log), log };

    const raw: number[] = [];
    const ours: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Baseline: the fastest plain use of pg-boss, with no handler, slots or error handling.
      await fill();
      let t = performance.now();
      await Promise.all(Array.from({ length: RAW_LOOPS }, async () => {
        for (;;) {
          const jobs = await boss.fetch(noop.name, { batchSize: BATCH });
          if (jobs.length === 0) return;
          await boss.complete(noop.name, jobs.map((j) => j.id));
        }
      }));
      raw.push(N / ((performance.now() - t) / 1000));

      // Ours: the worker the `worker` role runs, with a no-op handler.
      await fill();
      let done = 0;
      let finished!: () => void;
      const allDone = new Promise<void>((r) => finished = r);
      onStart = () => {
        if (++done === N) finished();
      };
      t = performance.now();
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
      ours.push(N / ((performance.now() - t) / 1000));
      const [left] =
        await sql`select count(*)::int as n from pgboss.job where state <> 'completed'`;
      if (left!.n !== 0) throw new Error(`${left!.n} jobs not completed`);
      await sql`delete from pgboss.job`;
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
