/**
 * `deno task new resource`, in a copy of the project as a user would run it:
 * it writes exactly the files docs/guide.md shows, `deno task ok` passes,
 * the generated tests pass, and the routes are in the OpenAPI document. A
 * bad or taken name writes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { migratedDatabase } from "./_db.ts";
import { projectCopy } from "./_copy.ts";

const GUIDE = fileURLToPath(new URL("../docs/guide.md", import.meta.url));

/** `deno task ARGS` in `dir`; its exit code and output. */
async function task(dir: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", ...args],
    cwd: dir,
    env: { NO_COLOR: "1", TUSK_ENV_FILE: ".data/no.env", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

/** Every file below `dir`, but dependencies and local state. */
async function listing(dir: string, sub = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(dir, sub))) {
    const path = sub === "" ? entry.name : `${sub}/${entry.name}`;
    if (["node_modules", ".data"].includes(entry.name)) continue;
    if (entry.isDirectory) found.push(...await listing(dir, path));
    else found.push(path);
  }
  return found.sort();
}

/** The files the guide shows: `<!-- file: PATH -->` and the code block after it. */
async function guideFiles(): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(GUIDE);
  const files = new Map<string, string>();
  for (const m of text.matchAll(/<!-- file: (\S+) -->\n\n```\w*\n([\s\S]*?)```\n/g)) {
    files.set(m[1]!, m[2]!);
  }
  return files;
}

Deno.test("deno task new resource notes --job writes the guide's files; they pass ok, their tests, and show in OpenAPI", async () => {
  await using db = await migratedDatabase();
  const dir = await projectCopy(db);
  const made = await task(dir, ["new", "resource", "notes", "--job"]);
  assert.equal(made.code, 0, made.text);

  const shown = await guideFiles();
  assert.ok(shown.size >= 7, `the guide shows ${shown.size} files`);
  const migrations = (await listing(dir, "migrations")).filter((f) =>
    /_notes(\.down)?\.sql$/.test(f)
  );
  assert.equal(migrations.length, 2, migrations.join(", "));
  for (const [path, text] of shown) {
    // The guide's migration number is an example: the generator takes the next free one.
    const actual = path.startsWith("migrations/")
      ? migrations.find((m) => m.endsWith(path.replace(/^migrations\/\d{4}/, "")))!
      : path;
    assert.equal(await Deno.readTextFile(join(dir, actual)), text, `${path} as the guide shows it`);
  }
  assert.match(
    await Deno.readTextFile(join(dir, "app.ts")),
    /api\.route\("\/", noteRoutes\(deps\)\);/,
  );
  assert.match(await Deno.readTextFile(join(dir, "jobs/registry.ts")), /^ {2}noteCreated,$/m);

  const ok = await task(dir, ["ok"]);
  assert.equal(ok.code, 0, ok.text);
  // The copy's own runner, on this run's server: its template has the new migration.
  const admin = Deno.env.get("TUSK_TEST_ADMIN_URL")!;
  const tests = await task(dir, ["test", "tests/routes/notes_test.ts"], { DATABASE_URL: admin });
  assert.equal(tests.code, 0, tests.text);
  assert.match(tests.text, /^tests: 5 passed, 0 failed$/m);

  const paths = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-P=test", "tests/fixtures/openapi_paths.ts"],
    cwd: dir,
    env: { NO_COLOR: "1", TUSK_ENV_FILE: ".data/no.env" },
    stdout: "piped",
  }).output();
  const document = new TextDecoder().decode(paths.stdout).split("\n");
  assert.ok(document.includes("/api/v1/notes get,post"), document.join("\n"));
  assert.ok(document.includes("/api/v1/notes/{id} delete,get,put"), document.join("\n"));
});

Deno.test("deno task new resource refuses bad and taken names, and writes nothing", async () => {
  await using db = await migratedDatabase();
  const dir = await projectCopy(db);
  const before = await listing(dir);
  const app = await Deno.readTextFile(join(dir, "app.ts"));
  const cases: [string[], RegExp][] = [
    [["Notes"], /^tusk new resource: NAME "Notes" must be snake case/],
    [["people"], /^tusk new resource: people does not end in s: give its singular with --singular/],
    [["users"], /^tusk new resource: users is a reserved word of PostgreSQL or a table of Tusk's/],
    [["orders", "--singular", "orders"], /the singular must differ from orders/],
    [["items_x", "--bogus"], /^tusk new resource: unknown option --bogus/],
  ];
  for (const [args, message] of cases) {
    const r = await task(dir, ["new", "resource", ...args]);
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, message);
  }
  // Taken: a file already there (a user's own routes/widgets.ts).
  await Deno.writeTextFile(join(dir, "routes", "widgets.ts"), "export {};\n");
  const taken = await task(dir, ["new", "resource", "widgets"]);
  assert.equal(taken.code, 1, taken.text);
  assert.match(
    taken.text,
    /^tusk new: widgets is taken: routes\/widgets\.ts; choose another name \(nothing was written\)$/m,
  );
  await Deno.remove(join(dir, "routes", "widgets.ts"));
  assert.deepEqual(await listing(dir), before, "nothing was written");
  assert.equal(await Deno.readTextFile(join(dir, "app.ts")), app);
});
