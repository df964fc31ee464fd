/**
 * The README and the pages in docs/ stay true and reachable: every variable
 * and task is documented, every page is linked from the README and opens
 * with an example, and every link between them resolves.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_VARIABLES } from "../config.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => Deno.readTextFile(join(ROOT, path));
const README_MAX_LINES = 250;

/** The variables named in backticks in a page's tables (`| `NAME`, `OTHER` (default) |`). */
function tableVariables(page: string): Set<string> {
  const names = new Set<string>();
  for (const line of page.split("\n").filter((l) => l.startsWith("| `"))) {
    const first = line.split("|")[1] ?? "";
    for (const match of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(match[1]!);
  }
  return names;
}

async function pages(): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(join(ROOT, "docs"))))
    .filter((e) => e.isFile && e.name.endsWith(".md")).map((e) => `docs/${e.name}`).sort();
}

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, "").replaceAll(" ", "-");
}

Deno.test("docs/configuration.md (and jobs.md, for the worker's) documents every variable, and .env.example names it", async () => {
  const documented = new Set([
    ...tableVariables(await read("docs/configuration.md")),
    ...tableVariables(await read("docs/jobs.md")),
  ]);
  const example = await read(".env.example");
  const missing = CONFIG_VARIABLES.filter((name) => !documented.has(name));
  assert.deepEqual(missing, [], "variables missing from the configuration page's tables");
  const notInExample = CONFIG_VARIABLES.filter((name) =>
    !new RegExp(`^#? ?${name}=`, "m").test(example)
  );
  assert.deepEqual(notInExample, [], "variables missing from .env.example");
  for (const runnerVariable of ["TUSK_ENV_FILE", "TEST_PG_DIR", "TEST_PG_PORT"]) {
    assert.ok(documented.has(runnerVariable), runnerVariable);
  }
});

Deno.test("docs/tasks.md lists every deno task, and no task that does not exist", async () => {
  const page = await read("docs/tasks.md");
  const tasks = Object.keys(JSON.parse(await read("deno.json")).tasks);
  const listed = [...page.matchAll(/^\| `deno task ([a-z:-]+)[^`]*` +\|/gm)].map((m) => m[1]!);
  assert.deepEqual([...new Set(listed)].sort(), [...tasks].sort());
});

Deno.test("the README is short, and links every page of docs/; each page opens with an example", async () => {
  const readme = await read("README.md");
  const lines = readme.trimEnd().split("\n").length;
  assert.ok(
    lines <= README_MAX_LINES,
    `README.md has ${lines} lines (at most ${README_MAX_LINES})`,
  );
  for (const page of await pages()) {
    assert.ok(readme.includes(`](${page})`), `the README links ${page}`);
    const text = await read(page);
    assert.match(text, /^# .+\n\n```/, `${page} starts with its title, then an example`);
  }
});

Deno.test("every relative link in the README and docs/ points at a file and heading that exist", async () => {
  const broken: string[] = [];
  for (const file of ["README.md", ...(await pages())]) {
    const text = await read(file);
    // Links outside code: fenced blocks and inline code are examples, not links.
    const prose = text.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^(https?:|mailto:|<)/.test(target)) continue;
      const [path, anchor] = target.split("#") as [string, string | undefined];
      const resolved = path === "" ? file : normalize(join(dirname(file), path));
      let content: string;
      try {
        content = await read(resolved);
      } catch {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith(".md")) continue;
      const headings = [...content.matchAll(/^#{1,6} (.+)$/gm)].map((h) => slug(h[1]!));
      if (!headings.includes(anchor)) broken.push(`${file}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});
