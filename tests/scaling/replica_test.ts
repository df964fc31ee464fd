/**
 * Reads from a real streaming replica: an API process with
 * `DATABASE_REPLICA_URL` reads item lists and the history listing from the
 * replica, except for a user who just wrote (their reads stay on the primary
 * for `REPLICA_STICKY_SECONDS`); a replica whose replay is paused past
 * `REPLICA_MAX_LAG_SECONDS`, or that is stopped, is skipped for the primary
 * with one warning each, and used again once it has caught up. The analytics
 * export reads its snapshot on the replica once it has replayed the primary's
 * position at the lock, and on the primary when it does not catch up in time.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { exportAnalytics } from "../../analytics/export.ts";
import { createSql } from "../../db/client.ts";
import { memoryLogger } from "../_analytics.ts";
import { TEST_SECRET } from "../_app.ts";
import { makeUser } from "../_factories.ts";
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

/** How many sequential scans of `items` this server has counted (flushed by ended sessions). */
async function itemScans(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ scans: string }[]>`
      select coalesce(sum(seq_scan), 0)::text as scans from pg_stat_user_tables where relname = 'items'`;
    return Number(row!.scans);
  } finally {
    await sql.end();
  }
}

Deno.test("the analytics export reads a caught-up replica's snapshot, else the primary's", async () => {
  await using servers = await primaryAndReplica();
  const migrate = startTusk(["migrate", "up"], {
    DATABASE_URL: servers.primary.url,
    SECRET_KEY: TEST_SECRET,
    EMAIL_TRANSPORT: "off",
  });
  assert.equal((await migrate.status).code, 0, migrate.output());
  await migrate[Symbol.asyncDispose]();
  const sql = createSql(servers.primary.url, { role: "test", poolSize: 4 });
  const dir = await Deno.makeTempDir({ prefix: "tusk-replica-export-" });
  const replicaAdmin = postgres(servers.replica.adminUrl, { max: 1, onnotice: () => {} });
  try {
    const owner = await makeUser(sql);
    await sql`insert into items (title, owner_id)
      select 'item ' || g, ${owner.user.id} from generate_series(1, 50) g`;
    const { log, lines } = memoryLogger();
    const replicas = {
      urls: [servers.replica.url],
      maxLagSeconds: 2,
      client: { role: "test" as const },
    };

    // Caught up: the replica scans `items`, the primary does not.
    const [primaryBefore, replicaBefore] = [
      await itemScans(servers.primary.url),
      await itemScans(servers.replica.url),
    ];
    const onReplica = await exportAnalytics(sql, { dir, log, replicas });
    assert.equal(onReplica.replica, new URL(servers.replica.url).host);
    assert.equal(onReplica.manifest.tables.items.rows, 50);
    assert.equal(onReplica.manifest.tables.users.rows, 1);
    const deadline = Date.now() + 10_000;
    while (await itemScans(servers.replica.url) === replicaBefore) {
      assert.ok(Date.now() < deadline, "the replica never counted the export's scan of items");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await itemScans(servers.primary.url), primaryBefore, "the primary was not read");

    // Paused: a write the replica has not replayed is still in the export, read on the primary
    // after waiting the lag limit, with a warning saying why.
    await replicaAdmin`select pg_wal_replay_pause()`;
    await sql`insert into items (title, owner_id) values ('after the pause', ${owner.user.id})`;
    const started = performance.now();
    const onPrimary = await exportAnalytics(sql, { dir, log, replicas });
    assert.equal(onPrimary.replica, undefined);
    assert.equal(onPrimary.manifest.tables.items.rows, 51);
    assert.ok(performance.now() - started >= replicas.maxLagSeconds * 1000, "it waited first");
    const warning = lines.find((l) =>
      l.msg === "analytics export reads the primary: no replica has caught up"
    );
    assert.ok(warning, JSON.stringify(lines));
    assert.match(JSON.stringify(warning.problems), /had not replayed .* after 2 s/);

    // Replaying again: back on the replica, with both writes.
    await replicaAdmin`select pg_wal_replay_resume()`;
    const again = await exportAnalytics(sql, { dir, log, replicas });
    assert.equal(again.replica, new URL(servers.replica.url).host);
    assert.equal(again.manifest.tables.items.rows, 51);
  } finally {
    await replicaAdmin.end();
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
});
