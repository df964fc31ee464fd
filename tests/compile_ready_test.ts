/**
 * What can be proved here of a `deno compile` binary (the compiler's runtime
 * cannot be downloaded on these machines): the app finds its own files through
 * `import.meta`, whatever the working directory, and every import is one the
 * compiler can see.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TEST_SECRET } from "./_app.ts";
import { migratedDatabase } from "./_db.ts";
import { freePort, startTusk, waitForHttp } from "./process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("main.ts serves, migrates and documents itself from another working directory", async () => {
  await using db = await migratedDatabase();
  const elsewhere = await Deno.makeTempDir({ prefix: "tusk-cwd-" });
  db.defer(() => Deno.remove(elsewhere, { recursive: true }));
  const env = { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET };

  const status = startTusk(["migrate", "status"], env, { cwd: elsewhere });
  assert.equal((await status.status).code, 0, status.output());
  await status[Symbol.asyncDispose]();
  assert.match(status.output(), /^applied +0007_user_identities\.sql/m);
  assert.doesNotMatch(status.output(), /pending|unknown/);

  const port = freePort();
  await using api = startTusk(["serve"], { ...env, PORT: String(port) }, { cwd: elsewhere });
  const base = `http://127.0.0.1:${port}`;
  // Ready means the migration files were found (and match the database).
  await waitForHttp(`${base}/readyz`, 200, 60_000);
  for (
    const asset of [
      "/docs",
      "/docs/swagger-ui.css",
      "/docs/swagger-ui-bundle.js",
      "/admin/login",
      "/admin/assets/console.css",
      "/admin/assets/htmx.min.js",
    ]
  ) {
    const res = await fetch(`${base}${asset}`);
    assert.equal(res.status, 200, asset);
    await res.body?.cancel();
  }
  api.kill("SIGTERM");
  assert.equal((await api.status).code, 0, api.output());
});

Deno.test("every import is static or a dynamic import of a literal, and the graph resolves", async () => {
  const dynamic: string[] = [];
  for await (const file of sources(ROOT)) {
    const text = await Deno.readTextFile(file);
    for (const match of text.matchAll(/\bimport\(\s*([^)]*)\)/g)) {
      if (!/^"[^"]+"$/.test(match[1]!.trim())) dynamic.push(`${file}: import(${match[1]})`);
    }
  }
  assert.deepEqual(dynamic, [], "imports the compiler cannot follow");
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const graph = JSON.parse(new TextDecoder().decode(stdout));
  const broken = graph.modules.filter((m: { error?: string }) => m.error);
  assert.deepEqual(broken, []);
  // The lazily loaded DuckDB is in the graph too, so a binary carries it.
  assert.ok(
    graph.modules.some((m: { specifier: string }) => m.specifier.includes("@duckdb/node-api")) ||
      JSON.stringify(graph.npmPackages ?? {}).includes("@duckdb/node-api"),
  );
});

/** The app's TypeScript files (not tests, benchmarks or dependencies). */
async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    if (
      entry.name.startsWith(".") ||
      ["node_modules", "tests", "bench", "coverage", "tmp"].includes(entry.name)
    ) continue;
    const path = `${dir}/${entry.name}`.replace("//", "/");
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield path;
  }
}
