/**
 * Reads from a real streaming replica: an API process with
 * `DATABASE_REPLICA_URL` reads item lists and the history listing from the
 * replica, except for a user who just wrote (their reads stay on the primary
 * for `REPLICA_STICKY_SECONDS`); a replica whose replay is paused past
 * `REPLICA_MAX_LAG_SECONDS`, or that is stopped, is skipped for the primary
 * with one warning each, and used again once it has caught up.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { TEST_SECRET } from "../_app.ts";
import { primaryAndReplica } from "../_replica.ts";
import { freePort, startTusk, waitForHttp } from "../process.ts";

const STICKY_SECONDS = 2;
const MAX_LAG_SECONDS = 6;
const ADMIN = "replica-admin@example.com";
const PASSWORD = "replica-password-1";

function countLines(output: string, pattern: RegExp): number {
  return output.split("\n").filter((line) => pattern.test(line)).length;
}

Deno.test("reads go to the replica, except a writer's own; a lagging or stopped replica is skipped", async () => {
  await using servers = await primaryAndReplica();
  const env = {
    DATABASE_URL: servers.primary.url,
    SECRET_KEY: TEST_SECRET,
    EMAIL_TRANSPORT: "off",
    FIRST_SUPERUSER: ADMIN,
    FIRST_SUPERUSER_PASSWORD: PASSWORD,
  };
  const migrate = startTusk(["migrate", "up"], env);
  assert.equal((await migrate.status).code, 0, migrate.output());
  await migrate[Symbol.asyncDispose]();
  const port = freePort();
  await using api = startTusk(["serve"], {
    ...env,
    PORT: String(port),
    DATABASE_REPLICA_URL: servers.replica.url,
    REPLICA_STICKY_SECONDS: String(STICKY_SECONDS),
    REPLICA_MAX_LAG_SECONDS: String(MAX_LAG_SECONDS),
  });
  const base = `http://127.0.0.1:${port}/api/v1`;
  await (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  await api.waitForOutput(/read replica in use/, 10_000);
  const login = await fetch(`${base}/login/access-token`, {
    method: "POST",
    body: new URLSearchParams({ username: ADMIN, password: PASSWORD }),
  });
  const auth = { Authorization: `Bearer ${(await login.json()).access_token}` };
  const titles = async () => {
    const res = await fetch(`${base}/items/`, { headers: auth });
    assert.equal(res.status, 200);
    return (await res.json()).data.map((i: { title: string }) => i.title) as string[];
  };

  const replicaAdmin = postgres(servers.replica.adminUrl, { max: 1, onnotice: () => {} });
  try {
    // The replica stops replaying: what is written now exists on the primary only.
    await replicaAdmin`select pg_wal_replay_pause()`;
    const wrote = await fetch(`${base}/items/`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ title: "written while the replica is paused" }),
    });
    assert.equal(wrote.status, 200);
    const writtenAt = Date.now();
    // The writer reads their own write: the primary, for the sticky seconds.
    assert.deepEqual(await titles(), ["written while the replica is paused"]);

    // Then the replica, which has not replayed it yet (and lags less than the limit).
    await new Promise((r) => setTimeout(r, STICKY_SECONDS * 1000 + 500 - (Date.now() - writtenAt)));
    assert.deepEqual(
      await titles(),
      [],
      "after the sticky seconds, the list comes from the replica",
    );
    const history = await fetch(`${base}/history/?table=items`, { headers: auth });
    assert.equal(history.status, 200);
    assert.equal((await history.json()).count, 0, "the history listing too");

    // Past the lag limit the replica is skipped: the primary answers, with one warning.
    await api.waitForOutput(
      /read replica skipped.*behind the primary/,
      (MAX_LAG_SECONDS + 5) * 1000,
    );
    assert.deepEqual(await titles(), ["written while the replica is paused"]);

    // Replaying again, it catches up and is used again.
    await replicaAdmin`select pg_wal_replay_resume()`;
  } finally {
    await replicaAdmin.end();
  }
  await waitForCount(api.output, /read replica in use/, 2);
  assert.deepEqual(await titles(), ["written while the replica is paused"]);

  // A replica that stops: skipped, and reads keep working on the primary.
  await servers.stopReplica();
  await waitForCount(api.output, /read replica skipped/, 2);
  assert.deepEqual(await titles(), ["written while the replica is paused"]);
  assert.match(api.output(), /read replica skipped.*does not answer/);
  assert.doesNotMatch(api.output(), /"level":"error"/, api.output());
  assert.equal(countLines(api.output(), /read replica skipped/), 2, "one warning per change");
});

async function waitForCount(output: () => string, pattern: RegExp, count: number) {
  const deadline = Date.now() + 15_000;
  while (countLines(output(), pattern) < count) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
