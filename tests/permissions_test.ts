import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TEST_SECRET } from "./_app.ts";
import { migratedDatabase } from "./_db.ts";
import { bearer } from "./_factories.ts";
import { freePort, startTusk, waitForHttp } from "./process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runs the probe under the named permission set of deno.json. */
async function refusedUnder(set: string): Promise<Record<string, boolean>> {
  const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", `-P=${set}`, "tests/fixtures/try_forbidden.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("`deno task start` serves under the `serve` permission set: no run, no write but its analytics cache, reads only the project", async () => {
  await using db = await migratedDatabase();
  const port = freePort();
  await using api = startTusk([], {
    ENVIRONMENT: "production",
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    FIRST_SUPERUSER: "perm@example.com",
    FIRST_SUPERUSER_PASSWORD: "perm-password-1",
    PORT: String(port),
    EMAIL_TRANSPORT: "off",
    // Inside the project, which is all the set may read.
    TUSK_ENV_FILE: ".data/no-such.env",
  }, { task: "start" });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/readyz`, 200, 60_000);
  // Password hashing (a native addon), the database, the docs assets: all work.
  const login = await fetch(`${base}/api/v1/login/access-token`, {
    method: "POST",
    body: new URLSearchParams({ username: "perm@example.com", password: "perm-password-1" }),
  });
  assert.equal(login.status, 200);
  const { access_token } = await login.json();
  const item = await fetch(`${base}/api/v1/items/`, {
    method: "POST",
    headers: { ...bearer(access_token), "content-type": "application/json" },
    body: JSON.stringify({ title: "under least privilege" }),
  });
  assert.equal(item.status, 200);
  assert.equal((await fetch(`${base}/docs/swagger-ui.css`)).status, 200);
  await (await fetch(`${base}/docs`)).body?.cancel();
  assert.doesNotMatch(api.output(), /NotCapable/);
  api.killGroup("SIGTERM");
  assert.equal((await api.status).code, 0, api.output());

  // The API writes only its cache of analytics generations fetched from Postgres.
  assert.deepEqual(await refusedUnder("serve"), {
    run: true,
    writeProject: true,
    writeData: true,
    readOutside: true,
    writeAnalyticsCache: false,
  });
  assert.deepEqual(await refusedUnder("scheduler"), {
    run: true,
    writeProject: true,
    writeData: true,
    readOutside: true,
    writeAnalyticsCache: true,
  });
  // Workers may write under .data (the file email transport, the exports), nowhere else.
  assert.deepEqual(await refusedUnder("worker"), {
    run: true,
    writeProject: true,
    writeData: false,
    readOutside: true,
    writeAnalyticsCache: false,
  });
});
