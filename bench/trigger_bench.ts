/**
 * What the audit-history trigger costs the server, counted rather than timed:
 * the instructions PostgreSQL runs per write (valgrind's callgrind, in
 * single-user mode), which repeat to a fraction of a percent on a shared
 * machine where timings spread by a fifth between rounds.
 *
 * For inserts and updates of `items` rows (each write one row, `--writes` of
 * them in one `do` block), it counts three cases:
 * - untracked: the table's trigger disabled;
 * - tracked, no context: what a plain SQL client's write costs;
 * - tracked, in a context: a new history context per write, as each request makes it.
 *
 * Every case builds the same context JSON and sets the setting (to nothing
 * when it has no context), so the cases differ only in what the trigger does.
 * Every session first makes 10 writes, so that what runs once (compiling the
 * trigger, filling caches) is left out: a write's figure is the count with
 * `--writes` more writes less the count without, divided by `--writes`.
 *
 * Usage: deno task bench:trigger [--writes 1000] [--pg 15,18] [--write]
 * Needs valgrind (Debian's package); starts its own embedded PostgreSQL in
 * `.data/bench-trigger-<version>`, migrated, then stopped for single-user mode.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { createSql } from "../db/client.ts";
import {
  type PgBinaries,
  pgBinaries,
  postgresOsUser,
  type RunAs,
  startEmbeddedPostgres,
} from "../db/embedded/mod.ts";
import { loadMigrations, migrateUp } from "../db/migrate/mod.ts";
import { processEnv } from "../lib/dotenv.ts";
import { needTool } from "./_load.ts";
import { postgresBinaries } from "./_postgres_versions.ts";
import { benchArgs, writeSection } from "./_bench.ts";

const args = benchArgs();
const WRITES = args.writes ?? 1000;

type Op = "insert" | "update";
type Mode = "untracked" | "no context" | "context";
const OPS: Op[] = ["insert", "update"];
const MODES: Mode[] = ["untracked", "no context", "context"];

/** The id of the `n`th row the sessions make. */
const rowId = (n: string) => `('00000000-0000-4000-8000-' || lpad(${n}::text, 12, '0'))::uuid`;

// Writes every session makes first, so that what runs once (compiling the trigger, filling
// caches) is in the count a case's figure subtracts.
const WARM_UP = 10;

/**
 * The single-user session for one case, one statement per line: rows made untracked,
 * then `WARM_UP + writes` inserts of new rows or updates of those, one row each.
 */
function session(op: Op, mode: Mode, owner: string, writes: number): string {
  const context = `json_build_object('id', gen_random_uuid(), 'metadata', json_build_object(` +
    `'request_id', gen_random_uuid(), 'method', 'POST', 'route', '/api/v1/items/', ` +
    `'user_id', '${owner}'))::text`;
  const write = op === "insert"
    ? `insert into items (title, description, owner_id) values ('bench item', 'by the loop', '${owner}');`
    : `update items set title = 'bench ' || i where id = ${rowId("i")};`;
  return [
    "truncate items, tusk_history.events, tusk_history.contexts;",
    "alter table items disable trigger tusk_history;",
    `insert into items (id, title, owner_id) select ${rowId("g")}, 'first', '${owner}' ` +
    `from generate_series(1, ${WARM_UP + WRITES}) g;`,
    mode === "untracked" ? "" : "alter table items enable trigger tusk_history;",
    `do $$ declare json text; begin for i in 1..${WARM_UP + writes} loop json := ${context}; ` +
    `perform set_config('tusk.history_context', ${
      mode === "context" ? "json" : "''"
    }, true); ${write} end loop; end $$;`,
    mode === "untracked" ? "alter table items enable trigger tusk_history;" : "",
  ].join("\n") + "\n";
}

/** Where and as whom `postgres --single` runs: its binary, data directory and OS user. */
interface SingleUser {
  postgres: string;
  dir: string;
  runAs: RunAs | undefined;
}

/** Instructions callgrind counts for `postgres --single` running `input`. */
async function instructions(server: SingleUser, input: string): Promise<number> {
  const { postgres, dir, runAs } = server;
  const child = spawn(
    "valgrind",
    ["--tool=callgrind", "--callgrind-out-file=/dev/null", postgres, "--single", "-D", dir, "tusk"],
    { ...runAs, stdio: ["pipe", "pipe", "pipe"], env: { LC_ALL: "C", PATH: "/usr/bin:/bin" } },
  );
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  child.stdin.end(input);
  const code = await new Promise<number | null>((done, fail) => {
    child.on("error", fail);
    child.on("close", done);
  });
  const collected = output.match(/Collected\s*:\s*(\d+)/);
  if (code !== 0 || collected === null || /\bERROR:/.test(output)) {
    throw new Error(`valgrind postgres --single failed (exit ${code}):\n${output.slice(-2000)}`);
  }
  return Number(collected[1]);
}

/** A migrated data directory with one user, its server stopped; the user's id. */
async function prepare(dir: string, binaries: PgBinaries, pg: string | undefined) {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const server = await startEmbeddedPostgres({
    dir,
    port: 54360 + Number(pg ?? 0),
    binaries,
  });
  const sql = createSql(server.url, { role: "cli", poolSize: 1 });
  try {
    await migrateUp(sql, await loadMigrations());
    const [user] = await sql<{ id: string }[]>`
      insert into users (email, hashed_password) values ('bench@example.com', 'none') returning id`;
    return user!.id;
  } finally {
    await sql.end();
    await server.stop();
  }
}

async function main() {
  needTool("bench:trigger", "valgrind", "apt-get install valgrind");
  const rows: string[] = [];
  for (const pg of args.pg ?? [undefined]) {
    const dir = resolve(`.data/bench-trigger-${pg ?? "default"}`);
    // The installed 18 by default; another version's binaries when --pg names it.
    const binaries =
      (pg === undefined ? undefined : await postgresBinaries(pg, await processEnv())) ??
        await pgBinaries();
    const owner = await prepare(dir, binaries, pg);
    const postgres = binaries.postgres;
    const single = { postgres, dir, runAs: await postgresOsUser() };
    const version = (await new Deno.Command(postgres, { args: ["--version"] }).output()).stdout;
    const server = new TextDecoder().decode(version).trim().replace(
      /^postgres \(PostgreSQL\) /,
      "",
    );
    for (const op of OPS) {
      const per: Record<string, number> = {};
      for (const mode of MODES) {
        const base = await instructions(single, session(op, mode, owner, 0));
        const total = await instructions(single, session(op, mode, owner, WRITES));
        per[mode] = (total - base) / WRITES;
        console.log(
          `bench:trigger PG ${server} ${op}, ${mode}: ${Math.round(per[mode]!)} instructions`,
        );
      }
      const k = (n: number) => `${Math.round(n / 1000)}k`;
      rows.push(
        `| ${server} | ${op} | ${k(per.untracked!)} | ${k(per["no context"]!)} | ` +
          `${k(per.context!)} | ${k(per["no context"]! - per.untracked!)} | ` +
          `${k(per.context! - per["no context"]!)} |`,
      );
    }
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${dir}.lock`);
  }
  const table = [
    "| PostgreSQL | write | untracked | tracked, no context | tracked, in a context | trigger | context |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
  console.log(`\nInstructions per write (${WRITES} writes per case):\n${table}`);
  if (args.write) {
    await writeSection(
      "Audit history: the trigger's instructions",
      "trigger",
      `Command: \`deno task bench:trigger --pg ${(args.pg ?? ["18"]).join(",")} --write\` ` +
        `(${WRITES} writes per case). Instructions per write, counted by callgrind:\n\n${table}`,
    );
  }
}

if (import.meta.main) await main();
