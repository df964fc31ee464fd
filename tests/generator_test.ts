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

/** Whether the project already has a resource called `name` (a user's own, say). */
async function taken(dir: string, name: string): Promise<boolean> {
  for (const path of [`db/${name}.ts`, `routes/${name}.ts`, `services/${name}.ts`]) {
    if (await Deno.stat(join(dir, path)).then(() => true, () => false)) return true;
  }
  for (const file of await listing(dir, "migrations")) {
    const sql = await Deno.readTextFile(join(dir, file));
    if (new RegExp(`create\\s+table\\s+${name}\\b`, "i").test(sql)) return true;
  }
  return false;
}

Deno.test("deno task new resource --job writes the guide's files; they pass ok, their tests, and show in OpenAPI", async (t) => {
  await using db = await migratedDatabase();
  const dir = await projectCopy(db);
  // The guide's own name, unless this project made a notes resource of its own already.
  const guide = !(await taken(dir, "notes"));
  const [table, one] = guide ? ["notes", "note"] : ["tusk_check_widgets", "tusk_check_widget"];
  const made = await task(dir, ["new", "resource", table, "--job"]);
  assert.equal(made.code, 0, made.text);
  const migrations = (await listing(dir, "migrations"))
    .filter((f) => new RegExp(`_${table}(\\.down)?\\.sql$`).test(f));
  assert.equal(migrations.length, 2, migrations.join(", "));

  await t.step({
    name: "the files are the ones docs/guide.md shows",
    ignore: !guide,
    async fn() {
      const shown = await guideFiles();
      assert.ok(shown.size >= 7, `the guide shows ${shown.size} files`);
      for (const [path, text] of shown) {
        // The guide's migration number is an example: the generator takes the next free one.
        const actual = path.startsWith("migrations/")
          ? migrations.find((m) => m.endsWith(path.replace(/^migrations\/\d{4}/, "")))!
          : path;
        assert.equal(
          await Deno.readTextFile(join(dir, actual)),
          text,
          `${path} as the guide shows it`,
        );
      }
    },
  });
  const camel = one.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  const app = await Deno.readTextFile(join(dir, "app.ts"));
  assert.ok(app.includes(`api.route("/", ${camel}Routes(deps));`), "registered in app.ts");
  const registry = await Deno.readTextFile(join(dir, "jobs/registry.ts"));
  assert.ok(registry.includes(`  ${camel}Created,`), "listed in jobs/registry.ts");

  const ok = await task(dir, ["ok"]);
  assert.equal(ok.code, 0, ok.text);
  // The copy's own runner, on this run's server: its template has the new migration.
  const admin = Deno.env.get("TUSK_TEST_ADMIN_URL")!;
  const tests = await task(dir, ["test", `tests/routes/${table}_test.ts`], { DATABASE_URL: admin });
  assert.equal(tests.code, 0, tests.text);
  assert.match(tests.text, /^tests: 5 passed, 0 failed$/m);

  const paths = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-P=test", "tests/fixtures/openapi_paths.ts"],
    cwd: dir,
    env: { NO_COLOR: "1", TUSK_ENV_FILE: ".data/no.env" },
    stdout: "piped",
  }).output();
  const document = new TextDecoder().decode(paths.stdout).split("\n");
  const base = `/api/v1/${table.replaceAll("_", "-")}`;
  assert.ok(document.includes(`${base} get,post`), document.join("\n"));
  assert.ok(document.includes(`${base}/{id} delete,get,put`), document.join("\n"));
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
  // Taken: a file already there (a user's own routes/tusk_check_gadgets.ts).
  await Deno.writeTextFile(join(dir, "routes", "tusk_check_gadgets.ts"), "export {};\n");
  const refused = await task(dir, ["new", "resource", "tusk_check_gadgets"]);
  assert.equal(refused.code, 1, refused.text);
  assert.match(
    refused.text,
    /^tusk new: tusk_check_gadgets is taken: routes\/tusk_check_gadgets\.ts; choose another name \(nothing was written\)$/m,
  );
  await Deno.remove(join(dir, "routes", "tusk_check_gadgets.ts"));
  assert.deepEqual(await listing(dir), before, "nothing was written");
  assert.equal(await Deno.readTextFile(join(dir, "app.ts")), app);
});
