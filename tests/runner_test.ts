import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTusk } from "./process.ts";

const RUNNER = fileURLToPath(new URL("./run.ts", import.meta.url));

Deno.test("deno task test reads DATABASE_URL from .env when the environment has none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tusk-dotenv-" });
  try {
    const envFile = join(dir, ".env");
    // The server this run already uses; the nested run makes its own template there.
    await Deno.writeTextFile(
      envFile,
      `# a developer's .env\nDATABASE_URL="${Deno.env.get("TUSK_TEST_ADMIN_URL")}"\n`,
    );
    await using run = startTusk(["lib/dotenv_test.ts"], { TUSK_ENV_FILE: envFile }, {
      entry: RUNNER,
    });
    const { code } = await run.status;
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /tests: using the PostgreSQL server in DATABASE_URL/);
    assert.doesNotMatch(run.output(), /embedded Postgres/);
    // However many tests that file holds, they ran there and passed.
    assert.match(run.output(), /tests: [1-9][0-9]* passed, 0 failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
