/**
 * Feature flags, in one run on one database:
 * - `isEnabled()` from a started flag cache, ns per call, for a flag without
 *   rules, one with three attribute rules (the subject matches the third),
 *   a 30 % rollout and a three-way split, against the `Set.has()` that
 *   answered `isEnabled()` before flags had rules;
 * - `tusk.flag_enabled()` over a million rows (rows/s), against the same
 *   scan building the same attributes with a plain predicate;
 * - OFREP over HTTP against a real `deno task start` process with wrk:
 *   bulk evaluation of 10 client-visible flags and a single evaluation,
 *   against `/healthz` and the public `GET /api/v1/flags/` in the same run.
 *
 * Usage: deno task bench:flags [--runs 3] [--seconds 10] [--clients 32] [--write]
 * Uses DATABASE_URL when set, else its own embedded Postgres (.data/bench-postgres).
 * With --write, the figures go into BENCHMARKS.md ("Feature flags").
 *
 * @module
 */
import { createSql, type Sql } from "../db/client.ts";
import { createFlag } from "../db/feature_flags.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { createLogger } from "../lib/logging.ts";
import { startFlagCache } from "../services/flag_cache.ts";
import { Rules, type Subject } from "../services/flag_rules.ts";
import { freePort } from "../tests/process.ts";
import { benchArgs, benchDatabase, median, writeSection } from "./_bench.ts";
import { needTool, serverEnv, spawn, wrk } from "./_load.ts";

const args = benchArgs();
const RUNS = args.runs ?? 3;
const SECONDS = args.seconds ?? 10;
const CLIENTS = args.clients ?? 32;
const CALLS = 1_000_000;
const SQL_ROWS = 1_000_000;
const SUBJECTS = 1000;

const FLAGS = [
  { codename: "bench-static", is_active: true, client_visible: true },
  {
    codename: "bench-rules",
    is_active: true,
    client_visible: true,
    rules: [
      { conditions: [{ attribute: "plan", operator: "eq", value: "enterprise" }], variant: "on" },
      {
        conditions: [{ attribute: "email", operator: "in", value: ["a@x.org", "b@x.org"] }],
        variant: "on",
      },
      {
        conditions: [{ attribute: "email", operator: "ends_with", value: "@example.com" }],
        variant: "on",
      },
    ],
  },
  {
    codename: "bench-rollout",
    is_active: true,
    client_visible: true,
    rules: [{ percentage: 30, variant: "on" }],
  },
  {
    codename: "bench-split",
    is_active: true,
    client_visible: true,
    variants: { a: "A", b: "B", c: { c: true } },
    default_variant: "a",
    rules: [{
      split: [{ variant: "a", weight: 34 }, { variant: "b", weight: 33 }, {
        variant: "c",
        weight: 33,
      }],
    }],
  },
];

async function setUp(sql: Sql) {
  for (const flag of FLAGS) {
    await createFlag(sql, { ...flag, rules: Rules.parse(flag.rules ?? []) });
  }
  // Six more client-visible flags, so a bulk evaluation answers ten.
  for (let i = 0; i < 6; i++) {
    await createFlag(sql, {
      codename: `bench-extra-${i}`,
      is_active: true,
      client_visible: true,
      rules: Rules.parse([{
        conditions: [{ attribute: "plan", operator: "eq", value: "pro" }],
        variant: "on",
      }]),
    });
  }
}

/** ns per call of `fn` over the subjects, median of RUNS rounds of CALLS calls. */
function nsPerCall(fn: (subject: Subject) => unknown, subjects: Subject[]): number {
  const rounds: number[] = [];
  let sink = 0;
  for (let run = 0; run < RUNS + 1; run++) {
    const started = performance.now();
    for (let i = 0; i < CALLS; i++) if (fn(subjects[i % subjects.length]!)) sink++;
    // The first round warms the JIT and is not counted.
    if (run > 0) rounds.push(((performance.now() - started) * 1e6) / CALLS);
  }
  if (sink < 0) console.log(sink);
  return median(rounds);
}

async function sqlRowsPerSecond(sql: Sql, expression: string): Promise<number> {
  const rounds: number[] = [];
  for (let run = 0; run < RUNS + 1; run++) {
    const started = performance.now();
    await sql.unsafe(`
      select count(*) filter (where ${expression})
      from generate_series(1, ${SQL_ROWS}) g,
           lateral (select jsonb_build_object('email', 'u' || g || '@example.com') as attrs) a`);
    if (run > 0) rounds.push(SQL_ROWS / ((performance.now() - started) / 1000));
  }
  return median(rounds);
}

async function writeScript(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}.lua`;
  await Deno.writeTextFile(
    path,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '${body}'\n`,
  );
  return path;
}

/** Runs the benchmark, prints the table, and with --write updates BENCHMARKS.md. */
export async function main() {
  needTool("bench:flags", "wrk", "apt-get install -y wrk");
  await using db = await benchDatabase("flags");
  const sql = createSql(db.url, { role: "cli", poolSize: 2 });
  const log = createLogger({ level: "error" });
  const lines: string[] = [];
  const say = (line: string) => {
    console.log(line);
    lines.push(line);
  };
  try {
    await migrateUp(sql, await loadMigrations());
    await installJobs(db.url, JOBS, log);
    await setUp(sql);

    // 1. In-process evaluation.
    const cache = await startFlagCache(sql, log);
    try {
      const subjects: Subject[] = Array.from({ length: SUBJECTS }, (_, i) => ({
        targetingKey: `user-${i}`,
        email: `u${i}@example.com`,
        plan: i % 2 === 0 ? "free" : "pro",
      }));
      const before = new Set(["bench-static"]);
      const baseline = nsPerCall(() => before.has("bench-static"), subjects);
      say(`| \`Set.has()\` (isEnabled before rules) | ${baseline.toFixed(1)} ns | 1.0 |`);
      for (const codename of ["bench-static", "bench-rules", "bench-rollout", "bench-split"]) {
        const ns = nsPerCall((s) => cache.evaluate(codename, s).value, subjects);
        say(`| \`${codename}\` | ${ns.toFixed(1)} ns | ${(ns / baseline).toFixed(1)} |`);
      }
    } finally {
      await cache.stop();
    }

    // 2. In SQL.
    const plain = await sqlRowsPerSecond(sql, "(a.attrs ->> 'email') like '%@example.com'");
    say(
      `| plain predicate on the same attributes | ${
        Math.round(plain).toLocaleString("en")
      } rows/s | 1.00 |`,
    );
    for (const codename of ["bench-rules", "bench-rollout"]) {
      const rate = await sqlRowsPerSecond(
        sql,
        `tusk.flag_enabled('${codename}', g::text, a.attrs)`,
      );
      say(
        `| \`tusk.flag_enabled('${codename}', ...)\` | ${
          Math.round(rate).toLocaleString("en")
        } rows/s | ${(rate / plain).toFixed(2)} |`,
      );
    }
  } finally {
    await sql.end();
  }

  // 3. OFREP over HTTP.
  const scratch = await Deno.makeTempDir({ prefix: "tusk-bench-flags-" });
  try {
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    await using _api = await spawn(
      ["task", "--quiet", "start"],
      serverEnv(db.url, { PORT: String(port) }),
      `${base}/healthz`,
    );
    const context =
      '{"context": {"targetingKey": "user-7", "email": "u7@example.com", "plan": "pro"}}';
    const bulkScript = await writeScript(scratch, "bulk", context);
    const results: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      const add = (k: string, v: number) => (results[k] ??= []).push(v);
      const options = { clients: CLIENTS, seconds: SECONDS };
      add("healthz", await wrk(`${base}/healthz`, options));
      add("flags", await wrk(`${base}/api/v1/flags/`, options));
      add("bulk", await wrk(`${base}/ofrep/v1/evaluate/flags`, { ...options, script: bulkScript }));
      add(
        "single",
        await wrk(`${base}/ofrep/v1/evaluate/flags/bench-rollout`, {
          ...options,
          script: bulkScript,
        }),
      );
    }
    const m = (k: string) => median(results[k]!);
    for (
      const [k, label] of [
        ["healthz", "`/healthz`"],
        ["flags", "`GET /api/v1/flags/` (the flag table, from Postgres)"],
        ["bulk", "OFREP bulk, 10 flags, from the cache"],
        ["single", "OFREP single, a 30 % rollout"],
      ] as const
    ) {
      say(
        `| ${label} | ${Math.round(m(k)).toLocaleString("en")} req/s | ${
          (m(k) / m("healthz")).toFixed(2)
        } |`,
      );
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }

  if (args.write) {
    await writeSection(
      "Feature flags",
      "flags",
      [
        `\`deno task bench:flags --write\` on ${db.server}, ${navigator.hardwareConcurrency} cores, ` +
        `medians of ${RUNS} runs; wrk -t1 -c${CLIENTS}, ${SECONDS} s.`,
        "",
        "| evaluation in the process (`isEnabled`) | per call | × `Set.has()` |",
        "|---|---|---|",
        ...lines.slice(0, 5),
        "",
        "| evaluation in SQL, 1,000,000 rows | rate | × plain |",
        "|---|---|---|",
        ...lines.slice(5, 8),
        "",
        "| over HTTP | rate | × `/healthz` |",
        "|---|---|---|",
        ...lines.slice(8),
      ].join("\n"),
    );
  }
}

if (import.meta.main) await main();
