/**
 * `tusk new resource NAME` (`deno task new resource NAME`): a resource end to
 * end, as docs/guide.md walks through it: the migration (tracked by audit
 * history), `db/NAME.ts`, `services/NAME.ts`, `routes/NAME.ts` registered in
 * `app.ts`, `tests/routes/NAME_test.ts`, and with `--job` a job queued by
 * each insert. Every name is checked and every file planned before the first
 * is written; a failure part-way takes back what was written.
 *
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { MIGRATIONS_DIR, nextMigrationFiles } from "../db/migrate/mod.ts";
import { CliError, parse, subcommandFallback, UsageError } from "./_io.ts";
import {
  dbModule,
  jobModule,
  migrationDown,
  migrationUp,
  type Names,
  namesOf,
  serviceModule,
} from "./_scaffold.ts";
import { routesModule } from "./_scaffold_routes.ts";
import { testModule } from "./_scaffold_tests.ts";

const USAGE = `Usage: tusk new <command>     (deno task new <command>)

Commands:
  resource NAME [--singular ONE] [--job]
                        a table owned by a user, tracked by audit history, with its
                        db module, rules, CRUD routes (in the OpenAPI document) and tests;
                        --job adds a job each insert queues. NAME is plural snake case
                        (notes, todo_items); ONE its singular when it does not end in s.
                        The walk-through: docs/guide.md`;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
// Where the generator adds its lines; each file says so beside the marker.
const APP_MARKER = "  // Your resources (deno task new resource NAME adds them here).";
const JOBS_MARKER = "  // Your jobs (deno task new resource NAME --job adds them here).";
// PostgreSQL's reserved words (and Tusk's own tables): no table may be called one.
const RESERVED = new Set(
  ("all analyse analyze and any array as asc asymmetric both case cast check collate column " +
    "constraint create current_catalog current_date current_role current_time " +
    "current_timestamp current_user default deferrable desc distinct do else end except false " +
    "fetch for foreign from grant group having in initially intersect into lateral leading " +
    "limit localtime localtimestamp not null offset on only or order placing primary " +
    "references returning select session_user some symmetric system_user table then to " +
    "trailing true union unique user using variadic when where window with " +
    "users items feature_flags rate_limits password_reset_tokens idempotency_keys " +
    "console_sessions user_identities tusk_migrations").split(" "),
);

/** The singular of plural snake case `table`, or undefined when it cannot be told. */
function singular(table: string): string | undefined {
  if (/ies$/.test(table)) return table.replace(/ies$/, "y");
  if (/(ss|x|z|ch|sh)es$/.test(table)) return table.replace(/es$/, "");
  if (/[^s]s$/.test(table)) return table.slice(0, -1);
  return undefined;
}

/** One file the generator writes, or one it adds lines to. */
interface Change {
  path: string;
  /** The whole text of a new file, or the file's new text after the addition. */
  text: string;
  /** What was there before (an edit), for putting it back. */
  before?: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** `text` with `line` inserted before `marker`, and `importLine` after its last import. */
function addTo(text: string, marker: string, line: string, importLine: string): string {
  const lines = text.split("\n");
  const lastImport = lines.findLastIndex((l) => l.startsWith("import ") || l.startsWith("} from "));
  lines.splice(lastImport + 1, 0, importLine);
  const at = lines.indexOf(marker);
  lines.splice(at, 0, line);
  return lines.join("\n");
}

async function plan(n: Names, withJob: boolean): Promise<Change[]> {
  const taken: string[] = [];
  const files = {
    db: join(ROOT, "db", `${n.table}.ts`),
    service: join(ROOT, "services", `${n.table}.ts`),
    routes: join(ROOT, "routes", `${n.table}.ts`),
    test: join(ROOT, "tests", "routes", `${n.table}_test.ts`),
    job: join(ROOT, "jobs", `${n.one}_created.ts`),
  };
  for (const [kind, path] of Object.entries(files)) {
    if ((kind !== "job" || withJob) && await exists(path)) taken.push(relative(ROOT, path));
  }
  const migrations = await Array.fromAsync(Deno.readDir(MIGRATIONS_DIR));
  for (const m of migrations) {
    const sql = await Deno.readTextFile(join(MIGRATIONS_DIR, m.name));
    if (new RegExp(`create\\s+table\\s+(if\\s+not\\s+exists\\s+)?${n.table}\\b`, "i").test(sql)) {
      taken.push(`the table ${n.table} (${m.name})`);
    }
  }
  if (taken.length > 0) {
    throw new CliError(
      `${n.table} is taken: ${taken.join(", ")}; choose another name (nothing was written)`,
    );
  }
  const app = await Deno.readTextFile(join(ROOT, "app.ts"));
  const registry = await Deno.readTextFile(join(ROOT, "jobs", "registry.ts"));
  const missing = [
    !app.includes(APP_MARKER) && `app.ts has no line ${JSON.stringify(APP_MARKER.trim())}`,
    withJob && !registry.includes(JOBS_MARKER) &&
    `jobs/registry.ts has no line ${JSON.stringify(JOBS_MARKER.trim())}`,
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new CliError(
      `cannot register the resource: ${missing.join("; ")} (put it back where new routes ` +
        "and jobs go; nothing was written)",
    );
  }
  const migration = await nextMigrationFiles(MIGRATIONS_DIR, n.table);
  const changes: Change[] = [
    { path: migration.up, text: migrationUp(n) },
    { path: migration.down, text: migrationDown(n) },
    { path: files.db, text: dbModule(n) },
    { path: files.service, text: serviceModule(n, withJob) },
    { path: files.routes, text: routesModule(n) },
    { path: files.test, text: testModule(n, withJob) },
    {
      path: join(ROOT, "app.ts"),
      before: app,
      text: addTo(
        app,
        APP_MARKER,
        `  api.route("/", ${n.oneCamel}Routes(deps));`,
        `import { ${n.oneCamel}Routes } from "./routes/${n.table}.ts";`,
      ),
    },
  ];
  if (withJob) {
    changes.push({ path: files.job, text: jobModule(n) }, {
      path: join(ROOT, "jobs", "registry.ts"),
      before: registry,
      text: addTo(
        registry,
        JOBS_MARKER,
        `  ${n.oneCamel}Created,`,
        `import { ${n.oneCamel}Created } from "./${n.one}_created.ts";`,
      ),
    });
  }
  return changes;
}

/** Writes `changes`; on a failure, removes what it created and restores what it edited. */
async function apply(changes: Change[]): Promise<void> {
  const done: Change[] = [];
  try {
    for (const change of changes) {
      await Deno.writeTextFile(change.path, change.text, {
        createNew: change.before === undefined,
      });
      done.push(change);
    }
    // The templates are close to deno fmt's layout; names of any length make them exact.
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", ...changes.filter((c) => c.path.endsWith(".ts")).map((c) => c.path)],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!fmt.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(fmt.stderr)}`);
  } catch (error) {
    for (const change of done.reverse()) {
      if (change.before === undefined) await Deno.remove(change.path).catch(() => {});
      else await Deno.writeTextFile(change.path, change.before);
    }
    throw error;
  }
}

/** Runs `tusk new ARGS`; returns the exit code. */
export async function newCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "resource") return subcommandFallback("new", sub, USAGE);
  const p = parse(rest, {
    usage: USAGE,
    sub,
    options: { singular: { type: "string" }, job: { type: "boolean" } },
    min: 1,
    max: 1,
  });
  if (!p) return 0;
  const table = p.positionals[0]!;
  const one = p.values.singular ?? singular(table);
  const wrong = (message: string) => new UsageError(message, "new resource");
  const snake = "must be snake case: lower-case letters and digits, words joined by _, " +
    "starting with a letter, at most 40 characters (e.g. todo_items)";
  if (!NAME.test(table) || table.length > 40) throw wrong(`NAME ${JSON.stringify(table)} ${snake}`);
  if (one === undefined) {
    throw wrong(
      `${table} does not end in s: give its singular with --singular (e.g. deno task new resource people --singular person)`,
    );
  }
  if (!NAME.test(one) || one.length > 40) throw wrong(`--singular ${JSON.stringify(one)} ${snake}`);
  if (one === table) throw wrong(`the singular must differ from ${table}`);
  if (RESERVED.has(table)) {
    throw wrong(
      `${table} is a reserved word of PostgreSQL or a table of Tusk's; choose another name`,
    );
  }
  const names = namesOf(table, one);
  const changes = await plan(names, p.values.job ?? false);
  await apply(changes);
  for (const change of changes) {
    console.log(
      `${change.before === undefined ? "created" : "updated"} ${relative(ROOT, change.path)}`,
    );
  }
  console.log(
    `\nNext: deno task migrate, then deno task test tests/routes/${table}_test.ts; ` +
      `the routes are under /api/v1${names.path} (see docs/guide.md)`,
  );
  return 0;
}
