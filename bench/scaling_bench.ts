/**
 * Workers side by side: jobs/s with 1, 2 and 3 worker processes (the real
 * `worker` role, as separate processes) draining one queue on one database,
 * each job an insert of its own row (`test-record-once`); the scaling ratio
 * is jobs/s with N workers over jobs/s with one, in the same run.
 *
 * Usage: deno task bench:scaling [--jobs 6000] [--runs 3] [--write]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 * With --write, the figures go into BENCHMARKS.md ("Scaling: workers").
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import { createSql, type Sql } from "../db/client.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { createBoss, installJobs, startBoss } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { createLogger } from "../lib/logging.ts";
import { EFFECTS_TABLE_SQL, recordOnce, TEST_JOBS } from "../tests/fixtures/test_jobs.ts";
import { startTusk, TEST_ROLE_ENTRY, type TuskProcess } from "../tests/process.ts";
import { benchArgs, benchDatabase, median, writeSection } from "./_bench.ts";

const args = benchArgs();
const JOB_COUNT = args.jobs ?? 6000;
const RUNS = args.runs ?? 3;
const WORKER_COUNTS = [1, 2, 3];
// Rows per pg-boss bulk insert when filling the queue.
const CHUNK = 2000;

async function fill(boss: PgBoss, run: number, count: number) {
  for (let i = 0; i < count; i += CHUNK) {
    const n = Math.min(CHUNK, count - i);
    await boss.insert(
      recordOnce.name,
      Array.from({ length: n }, (_, k) => ({ data: { key: `r${run}-${i + k}`, ms: 0 } })),
    );
  }
}

async function effects(sql: Sql, run: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from job_effects where key like ${`r${run}-%`}`;
  return row!.n;
}

/** Starts `n` workers, then fills the queue: jobs/s from the first effect to the last. */
async function drain(url: string, sql: Sql, boss: PgBoss, n: number, run: number) {
  const env = { DATABASE_URL: url, SECRET_KEY: "b".repeat(40), EMAIL_TRANSPORT: "off" };
  const workers: TuskProcess[] = [];
  try {
    for (let i = 0; i < n; i++) {
      workers.push(startTusk(["worker"], env, { entry: TEST_ROLE_ENTRY }));
    }
    // Every worker fetching before the first job exists, so start-up is not counted.
    await Promise.all(workers.map((w) => w.waitForOutput(/"msg":"worker started"/, 60_000)));
    await fill(boss, run, JOB_COUNT);
    while ((await effects(sql, run)) === 0) await new Promise((r) => setTimeout(r, 5));
    const started = performance.now();
    const first = await effects(sql, run);
    while ((await effects(sql, run)) < JOB_COUNT) await new Promise((r) => setTimeout(r, 20));
    return (JOB_COUNT - first) / ((performance.now() - started) / 1000);
  } finally {
    for (const w of workers) await w[Symbol.asyncDispose]();
  }
}

/** Runs the benchmark, prints the table, and with --write updates BENCHMARKS.md. */
export async function main() {
  await using db = await benchDatabase("scaling");
  const sql = createSql(db.url, { role: "cli", poolSize: 2 });
  const log = createLogger({ level: "error" });
  const rates: Record<number, number[]> = {};
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(db.url, [...JOBS, ...TEST_JOBS], log);
    await sql.unsafe(EFFECTS_TABLE_SQL);
    const boss = createBoss(db.url, { role: "bench", log });
    await startBoss(boss);
    try {
      let run = 0;
      for (let r = 0; r < RUNS; r++) {
        for (const n of WORKER_COUNTS) {
          const rate = await drain(db.url, sql, boss, n, run++);
          (rates[n] ??= []).push(rate);
          console.log(`bench: ${n} worker(s), run ${r + 1}: ${rate.toFixed(0)} jobs/s`);
        }
      }
    } finally {
      await boss.stop({ graceful: false });
    }
  } finally {
    await sql.end();
  }
  const one = median(rates[1]!);
  const rows = WORKER_COUNTS.map((n) => {
    const rate = median(rates[n]!);
    return `| ${n} | ${Math.round(rate).toLocaleString("en")} | ${(rate / one).toFixed(2)} |`;
  });
  const table = [
    `\`deno task bench:scaling --write\` on ${db.server}, ${navigator.hardwareConcurrency} cores, ` +
    `medians of ${RUNS} runs of ${
      JOB_COUNT.toLocaleString("en")
    } jobs, each an insert of its own row.`,
    "",
    "| worker processes | jobs/s | × one worker |",
    "|---|---|---|",
    ...rows,
  ].join("\n");
  console.log(table);
  if (args.write) await writeSection("Scaling: workers", "scaling", table);
}

if (import.meta.main) await main();
