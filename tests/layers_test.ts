/**
 * The layers hold: every import of every source file runs down the layers
 * (as the README's Layout lists them), no source files import each other
 * in a cycle, and a `_private.ts` file is imported only from its own folder
 * (and the folders inside it).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Top to bottom. A file may import its own folder and any layer below its own. */
const LAYERS: { layer: string; paths: string[] }[] = [
  { layer: "entry points", paths: ["main.ts", "worker.ts", "scheduler.ts"] },
  { layer: "commands and process roles", paths: ["cli/"] },
  { layer: "the app", paths: ["app.ts"] },
  { layer: "ops console", paths: ["console/"] },
  { layer: "routes", paths: ["routes/"] },
  { layer: "HTTP plumbing", paths: ["http/"] },
  { layer: "domain rules", paths: ["services/"] },
  { layer: "jobs", paths: ["jobs/"] },
  { layer: "analytics and emails", paths: ["analytics/", "emails/"] },
  { layer: "data", paths: ["db/"] },
  { layer: "configuration", paths: ["config.ts"] },
  { layer: "tools", paths: ["lib/"] },
];

const SPEC =
  /(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** Every `.ts`/`.tsx` file under the project, but dependencies (vendored too), data and output. */
async function sourceFiles(): Promise<string[]> {
  const skip = new Set(["node_modules", ".data", "tmp", "coverage", "dist", ".git", "vendor"]);
  const found: string[] = [];
  async function walk(dir: string) {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory && !skip.has(entry.name)) await walk(path);
      else if (entry.isFile && /\.tsx?$/.test(entry.name)) found.push(path);
    }
  }
  await walk("");
  return found.sort();
}

/** The project-relative files `file` imports. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(ROOT, file));
  return [...text.matchAll(SPEC)].map((m) =>
    normalize(join(dirname(file), m[1] ?? m[2]!)).replaceAll("\\", "/")
  );
}

function rank(file: string): number | undefined {
  const i = LAYERS.findIndex((l) =>
    l.paths.some((p) => p.endsWith("/") ? file.startsWith(p) : file === p)
  );
  return i < 0 ? undefined : i;
}

function folderOf(file: string): string {
  return LAYERS.flatMap((l) => l.paths).find((p) => p.endsWith("/") && file.startsWith(p)) ?? file;
}

/** Code that ships (not tests, benchmarks, their fixtures or unit tests beside the code). */
function isSource(file: string): boolean {
  return rank(file) !== undefined && !file.endsWith("_test.ts");
}

async function graph(): Promise<Map<string, string[]>> {
  const files = await sourceFiles();
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  // Only files that exist: a path in a string of code (a script a test runs) is no import.
  for (const file of files) edges.set(file, (await importsOf(file)).filter((t) => known.has(t)));
  return edges;
}

Deno.test("every source file sits in a layer, and imports only its own folder and the layers below", async () => {
  const edges = await graph();
  const up: string[] = [];
  const unplaced: string[] = [];
  for (const [file, targets] of edges) {
    if (!isSource(file)) continue;
    for (const target of targets) {
      const to = rank(target);
      if (to === undefined) {
        unplaced.push(`${file} -> ${target}`);
        continue;
      }
      const from = rank(file)!;
      const sameFolder = folderOf(file) === folderOf(target);
      if (to < from || (to === from && !sameFolder)) {
        up.push(`${file} (${LAYERS[from]!.layer}) -> ${target} (${LAYERS[to]!.layer})`);
      }
    }
  }
  assert.deepEqual(unplaced, [], "imports of files outside every layer");
  assert.deepEqual(up, [], "imports that run up a layer (see the README's Layout)");
  const topLevel = [...edges.keys()].filter((f) => !f.includes("/") && !f.endsWith("_test.ts"));
  assert.deepEqual(
    topLevel.filter((f) => rank(f) === undefined),
    [],
    "top-level files that belong to no layer",
  );
});

Deno.test("no source files import each other in a cycle", async () => {
  const edges = await graph();
  const source = [...edges.keys()].filter(isSource);
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  function visit(file: string, path: string[]) {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const target of edges.get(file) ?? []) {
      if (isSource(target)) visit(target, [...path, file]);
    }
    state.set(file, "done");
  }
  for (const file of source) visit(file, []);
  assert.deepEqual(cycles, []);
});

Deno.test("a _private.ts file is imported only from its own folder", async () => {
  const edges = await graph();
  const outside: string[] = [];
  for (const [file, targets] of edges) {
    for (const target of targets) {
      const name = target.split("/").at(-1)!;
      if (!name.startsWith("_")) continue;
      const home = dirname(target);
      const from = relative(home, dirname(file));
      if (from.startsWith("..")) outside.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(outside, []);
});
