import assert from "node:assert/strict";
import { CONFIG_VARIABLES } from "../config.ts";

const README = new URL("../README.md", import.meta.url);
const ENV_EXAMPLE = new URL("../.env.example", import.meta.url);
const DENO_JSON = new URL("../deno.json", import.meta.url);

/** The variables named in backticks in the README's tables (`| `NAME`, `OTHER` (default) |`). */
function tableVariables(readme: string): Set<string> {
  const names = new Set<string>();
  for (const line of readme.split("\n").filter((l) => l.startsWith("| `"))) {
    const first = line.split("|")[1] ?? "";
    for (const match of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(match[1]!);
  }
  return names;
}

Deno.test("the README's tables document every configuration variable, and .env.example names it", async () => {
  const readme = await Deno.readTextFile(README);
  const documented = tableVariables(readme);
  const example = await Deno.readTextFile(ENV_EXAMPLE);
  const missing = CONFIG_VARIABLES.filter((name) => !documented.has(name));
  assert.deepEqual(missing, [], "variables missing from the README's tables");
  const notInExample = CONFIG_VARIABLES.filter((name) =>
    !new RegExp(`^#? ?${name}=`, "m").test(example)
  );
  assert.deepEqual(notInExample, [], "variables missing from .env.example");
  for (const runnerVariable of ["TUSK_ENV_FILE", "TEST_PG_DIR", "TEST_PG_PORT"]) {
    assert.ok(documented.has(runnerVariable), runnerVariable);
  }
});

Deno.test("the README's task table lists every deno task, and no task that does not exist", async () => {
  const readme = await Deno.readTextFile(README);
  const tasks = Object.keys(JSON.parse(await Deno.readTextFile(DENO_JSON)).tasks);
  const listed = [...readme.matchAll(/^\| `deno task ([a-z:-]+)[^`]*` +\|/gm)].map((m) => m[1]!);
  assert.deepEqual([...new Set(listed)].sort(), [...tasks].sort());
});
