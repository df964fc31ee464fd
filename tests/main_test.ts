import assert from "node:assert/strict";
import { TEST_SECRET } from "./_app.ts";
import type { Sql } from "../db/client.ts";
import { loadMigrations } from "../db/migrate/mod.ts";
import { migratedDatabase } from "./_db.ts";
import { freePort, startTusk, waitForHttp } from "./process.ts";

const NO_STACK = /^\s+at /m;

function serveEnv(url: string, port: number): Record<string, string> {
  return {
    DATABASE_URL: url,
    PORT: String(port),
    SECRET_KEY: TEST_SECRET,
    SHUTDOWN_TIMEOUT_SECONDS: "10",
  };
}

Deno.test("bad configuration ends with one message naming every variable, exit 1", async () => {
  await using proc = startTusk(["serve"], {
    ENVIRONMENT: "production",
    SECRET_KEY: "changethis",
    PORT: "http",
    DATABASE_URL: "mysql://nope",
  });
  assert.equal((await proc.status).code, 1);
  const out = proc.output();
  assert.match(out, /Invalid configuration/);
  assert.match(out, /PORT: expected an integer/);
  assert.match(out, /DATABASE_URL: expected a postgres: or postgresql: URL/);
  assert.doesNotMatch(out, NO_STACK);
});

Deno.test("placeholders beyond loopback, and TRUSTED_PROXIES=*, stop every role at start with one message", async () => {
  const placeholder = {
    HOST: "0.0.0.0",
    FIRST_SUPERUSER: "admin@example.com",
    FIRST_SUPERUSER_PASSWORD: "changethis",
    TUSK_DATA_DIR: ".data/tests-never-written",
  };
  const refusals: [Record<string, string>, RegExp][] = [
    [
      placeholder,
      /FIRST_SUPERUSER_PASSWORD: the placeholder "changethis" is not allowed when the API listens beyond loopback \(HOST=0\.0\.0\.0\)/,
    ],
    [{ TRUSTED_PROXIES: "*" }, /TRUSTED_PROXIES: \* would let every client choose its own address/],
  ];
  for (const command of ["serve", "dev", "worker"]) {
    for (const [env, message] of refusals) {
      await using proc = startTusk([command], env);
      if (command === "dev") {
        // dev waits for the fix instead of ending the `deno run --watch` loop; Ctrl-C ends it.
        await proc.waitForOutput(/waiting for a change to/);
        proc.kill("SIGINT");
      }
      assert.equal((await proc.status).code, 1, proc.output());
      const out = proc.output();
      assert.match(out, message);
      assert.doesNotMatch(out, /initialising embedded|starting embedded|listening/);
      assert.doesNotMatch(out, NO_STACK);
    }
  }
});

Deno.test("production or staging without DATABASE_URL exits 1 and starts no embedded Postgres", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tusk-prod-" });
  try {
    for (const environment of ["production", "staging"]) {
      for (const command of ["serve", "worker", "migrate"]) {
        await using proc = startTusk([command], {
          ENVIRONMENT: environment,
          SECRET_KEY: TEST_SECRET,
          TUSK_DATA_DIR: dir,
          PORT: String(freePort()),
        });
        assert.equal((await proc.status).code, 1, proc.output());
        assert.match(proc.output(), /DATABASE_URL: required when ENVIRONMENT=/);
        assert.doesNotMatch(proc.output(), /initialising embedded|starting embedded/);
        assert.doesNotMatch(proc.output(), NO_STACK);
      }
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "nothing was initialised");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the template's POSTGRES_* variables reach the database; LOG_LEVEL quiets the log", async () => {
  await using db = await migratedDatabase();
  const url = new URL(db.url);
  const port = freePort();
  await using proc = startTusk(["serve"], {
    POSTGRES_SERVER: url.hostname,
    POSTGRES_PORT: url.port,
    POSTGRES_USER: decodeURIComponent(url.username),
    POSTGRES_PASSWORD: decodeURIComponent(url.password),
    POSTGRES_DB: url.pathname.slice(1),
    PORT: String(port),
    SECRET_KEY: TEST_SECRET,
    LOG_LEVEL: "warn",
  });
  const ready = await waitForHttp(`http://127.0.0.1:${port}/readyz`);
  assert.deepEqual(await ready.json(), { status: "ready" });
  const [row] = await db.sql`
    select count(*)::int as n from pg_stat_activity
    where datname = ${db.name} and application_name like 'tusk%'`;
  assert.ok(row!.n > 0, "the server is connected to the database the variables name");
  proc.kill("SIGTERM");
  assert.equal((await proc.status).code, 0, proc.output());
  assert.doesNotMatch(proc.output(), /"level":"info"/);
});

Deno.test("an unknown command is a usage error, exit 1", async () => {
  await using proc = startTusk(["frobnicate"], {});
  assert.equal((await proc.status).code, 1);
  assert.match(proc.output(), /unknown command "frobnicate"/);
  assert.match(proc.output(), /Usage: tusk <command>/);
});

Deno.test("serve refuses a database with a migration it does not know", async () => {
  await using db = await migratedDatabase();
  await db
    .sql`insert into tusk_migrations (version, name, checksum, duration_ms) values (9999, 'future', 'x', 1)`;
  await using proc = startTusk(["serve"], serveEnv(db.url, freePort()));
  assert.equal((await proc.status).code, 1);
  const out = proc.output();
  assert.match(out, /has migration 9999_future applied, which this code does not know/);
  assert.doesNotMatch(out, NO_STACK);
});

Deno.test("serve refuses a database whose applied migration was edited", async () => {
  await using db = await migratedDatabase();
  await db.sql`update tusk_migrations set checksum = 'edited' where version = 1`;
  await using proc = startTusk(["serve"], serveEnv(db.url, freePort()));
  assert.equal((await proc.status).code, 1);
  assert.match(proc.output(), /Migration 0001_users_items\.sql was edited after it was applied/);
  assert.doesNotMatch(proc.output(), NO_STACK);
});

Deno.test("serve reports a taken API port clearly, exit 1", async () => {
  await using db = await migratedDatabase();
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (squatter.addr as Deno.NetAddr).port;
    await using proc = startTusk(["serve"], serveEnv(db.url, port));
    assert.equal((await proc.status).code, 1);
    assert.match(proc.output(), new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.doesNotMatch(proc.output(), NO_STACK);
  } finally {
    squatter.close();
  }
});

Deno.test("SIGTERM lets an in-flight request finish, refuses new ones, and exits 0", async () => {
  await using db = await migratedDatabase();
  const port = freePort();
  await using proc = startTusk(["serve"], serveEnv(db.url, port));
  (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();

  // Hold a lock that /readyz's migration query must wait for: the request is in flight.
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  let locked!: () => void;
  const lockTaken = new Promise<void>((r) => locked = r);
  const holder = db.sql.begin(async (tx) => {
    await tx`lock table tusk_migrations in access exclusive mode`;
    locked();
    await released;
  });
  await lockTaken;
  const inFlight = fetch(`http://127.0.0.1:${port}/readyz`);
  await waitForSql(db.sql, "select count(*)::int as n from pg_locks where not granted", 1);

  proc.kill("SIGTERM");
  await proc.waitForOutput(/shutting down/);
  await assert.rejects(
    () => fetch(`http://127.0.0.1:${port}/healthz`),
    "new connections must be refused",
  );
  release();
  await holder;
  const res = await inFlight;
  assert.equal(res.status, 200, "the in-flight request got its answer");
  assert.deepEqual(await res.json(), { status: "ready" });
  assert.equal((await proc.status).code, 0, proc.output());
});

Deno.test("a body still uploading at SIGTERM is answered 400, not 500", async () => {
  await using db = await migratedDatabase();
  const port = freePort();
  await using proc = startTusk(["serve"], serveEnv(db.url, port));
  (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    "POST /api/v1/utils/health-check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n",
  ));
  await new Promise((r) => setTimeout(r, 200));
  proc.kill("SIGTERM");
  const head = new Uint8Array(64);
  const n = await conn.read(head);
  conn.close();
  assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 400/);
  assert.equal((await proc.status).code, 0, proc.output());
  assert.doesNotMatch(proc.output(), /unhandled error/);
});

/** Polls until `query`'s column n reaches `atLeast`. */
async function waitForSql(sql: Sql, query: string, atLeast: number) {
  for (let i = 0; i < 200; i++) {
    const [row] = await sql.unsafe(query);
    if (row!.n >= atLeast) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${query} never reached ${atLeast}`);
}

Deno.test("migrate status, down and up work from the command line", async () => {
  await using db = await migratedDatabase();
  const env = { DATABASE_URL: db.url };
  const newest = (await loadMigrations()).at(-1)!;
  const latest = newest.file.replaceAll(".", "\\.");
  if (newest.down === undefined) {
    // A project's own one-way migration last (a down file is optional): down says so, and stops.
    await using proc = startTusk(["migrate", "down"], env);
    assert.equal((await proc.status).code, 1, proc.output());
    assert.match(proc.output(), new RegExp(`${latest} has no down file`));
    return;
  }
  {
    await using proc = startTusk(["migrate", "status"], env);
    assert.equal((await proc.status).code, 0, proc.output());
    assert.match(proc.output(), new RegExp(`applied  ${latest}`));
  }
  {
    await using proc = startTusk(["migrate", "down"], env);
    assert.equal((await proc.status).code, 0, proc.output());
    assert.match(proc.output(), new RegExp(`reverted ${latest}`));
  }
  {
    await using proc = startTusk(["migrate", "status"], env);
    await proc.status;
    assert.match(proc.output(), new RegExp(`pending  ${latest}`));
  }
  {
    await using proc = startTusk(["migrate"], env);
    assert.equal((await proc.status).code, 0, proc.output());
    assert.match(proc.output(), new RegExp(`applied ${latest}\\n1 applied`));
  }
  // Edited since applied (as a developer tweaking the latest file would): status shows it,
  // down and redo still work and say so.
  await db.sql`update tusk_migrations set checksum = 'before-the-edit' where version = (
    select max(version) from tusk_migrations)`;
  {
    await using proc = startTusk(["migrate", "status"], env);
    assert.equal((await proc.status).code, 0, proc.output());
    assert.match(
      proc.output(),
      new RegExp(`edited   ${latest} .*file changed since it was applied`),
    );
  }
  {
    await using proc = startTusk(["migrate", "redo"], env);
    assert.equal((await proc.status).code, 0, proc.output());
    assert.match(
      proc.output(),
      new RegExp(`redone ${latest}\nnote: .*changed since it was applied`),
    );
  }
  {
    await using proc = startTusk(["migrate", "status"], env);
    await proc.status;
    assert.match(proc.output(), new RegExp(`applied  ${latest}`), "recorded as it is now");
  }
  {
    await using proc = startTusk(["migrate", "sideways"], env);
    assert.equal((await proc.status).code, 1);
    assert.match(proc.output(), /unknown migrate command "sideways"/);
  }
});

Deno.test("the first superuser is created by migrate and at start, and never overwritten", async () => {
  await using db = await migratedDatabase();
  const env = {
    DATABASE_URL: db.url,
    FIRST_SUPERUSER: "Root@Example.com",
    FIRST_SUPERUSER_PASSWORD: "first password",
  };
  {
    await using proc = startTusk(["migrate"], env);
    assert.equal((await proc.status).code, 0, proc.output());
  }
  const [created] = await db.sql`select email, is_superuser, hashed_password from users`;
  assert.equal(created!.email, "Root@Example.com");
  assert.equal(created!.is_superuser, true);
  await db.sql`update users set hashed_password = 'changed-elsewhere'`;
  const port = freePort();
  await using server = startTusk(["serve"], {
    ...serveEnv(db.url, port),
    ...env,
    FIRST_SUPERUSER: "root@example.com",
  });
  (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  const rows = await db.sql`select hashed_password from users`;
  assert.deepEqual(
    rows.map((r) => r.hashed_password),
    ["changed-elsewhere"],
    "not overwritten, not duplicated",
  );
  server.kill("SIGTERM");
  assert.equal((await server.status).code, 0);
});
