/**
 * What a newcomer sees when a start goes wrong: one line that says what and
 * what to check, exit 1, never a stack. Real processes, real servers.
 */
import assert from "node:assert/strict";
import { connectError } from "../db/connection_errors.ts";
import { TEST_SECRET } from "./_app.ts";
import { emptyDatabase, migratedDatabase } from "./_db.ts";
import { makeUser } from "./_factories.ts";
import { freePort, startTusk, waitForHttp } from "./process.ts";

const NO_STACK = /^\s+at /m;

/** The first line a process wrote (stderr and stdout interleave; the message comes first). */
function firstLine(output: string): string {
  return output.split("\n").find((l) => l.trim() !== "") ?? "";
}

/** A URL to `db`'s server, with its user, database or port replaced. */
function variant(url: string, change: { user?: string; database?: string; port?: number }) {
  const u = new URL(url);
  if (change.user !== undefined) u.username = change.user;
  if (change.database !== undefined) u.pathname = `/${change.database}`;
  if (change.port !== undefined) u.port = String(change.port);
  return u.toString();
}

Deno.test("a database that is not there, or refuses the role: one line naming it, password masked, exit 1", async () => {
  await using db = await migratedDatabase();
  const port = freePort();
  const withPassword = (url: string) => {
    const u = new URL(url);
    u.password = "s3cret";
    return u.toString();
  };
  const host = new URL(db.url).host;
  const cases: [string[], string, RegExp][] = [
    [
      ["migrate"],
      variant(withPassword(db.url), { port }),
      new RegExp(
        `^tusk migrate: cannot connect to the database postgres://[^:]+:\\*\\*\\*@127\\.0\\.0\\.1:${port}/\\S+: ` +
          `connection refused: nothing listens on 127\\.0\\.0\\.1:${port}; check that PostgreSQL is running`,
      ),
    ],
    [
      ["serve"],
      variant(db.url, { database: "no_such_db" }),
      new RegExp(
        `^tusk serve: cannot connect to the database \\S+/no_such_db: the database "no_such_db" ` +
          `does not exist on ${host.replace(/\./g, "\\.")}; create it \\(createdb no_such_db\\)`,
      ),
    ],
    [
      ["users", "list"],
      variant(db.url, { user: "no_such_role" }),
      /^tusk users: cannot connect to the database postgres:\/\/no_such_role(:\*\*\*)?@\S+: (the role "no_such_role" does not exist|password authentication failed for the role "no_such_role")/,
    ],
  ];
  for (const [args, url, message] of cases) {
    await using proc = startTusk(args, { DATABASE_URL: url, SECRET_KEY: TEST_SECRET });
    assert.equal((await proc.status).code, 1, proc.output());
    assert.match(firstLine(proc.output()), message);
    assert.doesNotMatch(proc.output(), /s3cret|unexpected error/);
    assert.doesNotMatch(proc.output(), NO_STACK);
  }
});

Deno.test("connectError() says in words what the server or the socket said", () => {
  const url = "postgres://app:pw@db.internal:6432/shop";
  const cases: [object, RegExp][] = [
    [
      { code: "28P01", message: "password authentication failed" },
      /password authentication failed for the role "app"; check the URL's user and password$/,
    ],
    [
      { code: "28000", message: 'no pg_hba.conf entry for host "10.0.0.5", no encryption' },
      /requires TLS for this connection; add \?sslmode=require to DATABASE_URL$/,
    ],
    [
      { code: "CONNECT_TIMEOUT", message: "write CONNECT_TIMEOUT db.internal:6432" },
      /no answer from db\.internal:6432 in time/,
    ],
    [
      { code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND db.internal" },
      /the host name in db\.internal:6432 does not resolve/,
    ],
    [
      {
        message: "Client network socket disconnected before secure TLS connection was established",
      },
      /TLS failed/,
    ],
    [
      { code: "53300", message: "sorry, too many clients already" },
      /no connection slot left; lower DATABASE_POOL_SIZE/,
    ],
  ];
  for (const [error, words] of cases) {
    const made = connectError(error, url);
    assert.ok(made, JSON.stringify(error));
    assert.ok(
      made.message.startsWith(
        "cannot connect to the database postgres://app:***@db.internal:6432/shop: ",
      ),
    );
    assert.match(made.message, words);
  }
  assert.equal(
    connectError(new TypeError("x is not a function"), url),
    undefined,
    "bugs stay bugs",
  );
});

Deno.test("deno task start: no DATABASE_URL in local, or no SECRET_KEY it may write, says what to do", async () => {
  await using db = await migratedDatabase();
  const dir = `.data/tests-no-secret-${crypto.randomUUID().slice(0, 8)}`;
  const cases: [Record<string, string>, RegExp][] = [
    [
      { SECRET_KEY: TEST_SECRET, TUSK_DATA_DIR: dir },
      /^tusk serve: DATABASE_URL is not set, so this would start the embedded PostgreSQL, which production roles \(deno task start, start-worker, start-scheduler, the image\) never do: use deno task dev for local development, or set DATABASE_URL$/m,
    ],
    [
      { DATABASE_URL: db.url, TUSK_DATA_DIR: dir },
      /^ {2}- SECRET_KEY: not set, and this process may not keep a generated one in \S+secret_key \(Requires write access to "[^"]+"\); set SECRET_KEY/m,
    ],
  ];
  for (const [env, message] of cases) {
    await using proc = startTusk([], { ...env, PORT: String(freePort()) }, { task: "start" });
    assert.equal((await proc.status).code, 1, proc.output());
    assert.match(proc.output(), message);
    assert.doesNotMatch(proc.output(), /NotCapable|useradd|unexpected error/);
    assert.doesNotMatch(proc.output(), NO_STACK);
    assert.doesNotMatch(proc.output(), /experimental feature/, "deno's own warning is silenced");
  }
});

Deno.test("serve on a database that is not migrated exits 1 saying to run deno task migrate", async () => {
  await using db = await emptyDatabase();
  await using proc = startTusk(["serve"], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PORT: String(freePort()),
  });
  assert.equal((await proc.status).code, 1, proc.output());
  assert.match(
    firstLine(proc.output()),
    /^tusk serve: the database is not migrated: \d+ migrations are pending \(0001_users_items\.sql, 0002_auth\.sql, 0003_feature_flags\.sql and \d+ more\); run deno task migrate \(tusk migrate\) first, then start again$/,
  );
  assert.doesNotMatch(proc.output(), NO_STACK);
  assert.doesNotMatch(proc.output(), /feature flags could not be reloaded|listening/);
});

Deno.test("a start without any superuser says, once, how to make one; with one it says nothing", async () => {
  await using db = await migratedDatabase();
  const port = freePort();
  const env = { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET, PORT: String(port) };
  const notice =
    /no active superuser exists, so nobody can log in to \/admin or use superuser routes: set FIRST_SUPERUSER and FIRST_SUPERUSER_PASSWORD \(created at the next start\), or run deno task cli users create EMAIL --superuser/;
  {
    await using proc = startTusk(["serve"], env);
    (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
    proc.kill("SIGTERM");
    assert.equal((await proc.status).code, 0, proc.output());
    assert.equal(proc.output().split("\n").filter((l) => notice.test(l)).length, 1);
    assert.match(proc.output(), /"console":"http:\/\/127\.0\.0\.1:\d+\/admin"/);
    assert.match(proc.output(), /"docs":"http:\/\/127\.0\.0\.1:\d+\/docs"/);
    assert.match(proc.output(), /"readyz":"http:\/\/127\.0\.0\.1:\d+\/readyz"/);
  }
  await makeUser(db.sql, { superuser: true });
  await using proc = startTusk(["serve"], env);
  (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  proc.kill("SIGTERM");
  assert.equal((await proc.status).code, 0, proc.output());
  assert.doesNotMatch(proc.output(), notice);
});

Deno.test("a first superuser the API would refuse stops the start with the config's message", async () => {
  await using proc = startTusk(["serve"], {
    FIRST_SUPERUSER: "boss",
    FIRST_SUPERUSER_PASSWORD: "abc",
    PORT: "http",
  });
  assert.equal((await proc.status).code, 1, proc.output());
  assert.equal(
    proc.output().trim(),
    "tusk serve: Invalid configuration. Fix these environment variables (in the environment or " +
      "in .env; see .env.example):\n" +
      '  - FIRST_SUPERUSER: expected an email address (at most 255 characters), got "boss"\n' +
      "  - FIRST_SUPERUSER_PASSWORD: expected 8 to 128 characters\n" +
      '  - PORT: expected an integer from 0 to 65535, got "http"',
  );
});

Deno.test("FRONTEND_DIR without an index.html stops the start saying what to build", async () => {
  await using db = await migratedDatabase();
  const dir = await Deno.makeTempDir({ prefix: "tusk-empty-frontend-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  await using proc = startTusk(["serve"], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PORT: String(freePort()),
    FRONTEND_DIR: dir,
  });
  assert.equal((await proc.status).code, 1, proc.output());
  assert.equal(
    firstLine(proc.output()),
    `tusk serve: FRONTEND_DIR=${dir} has no index.html: build the frontend into it first ` +
      "(the FastAPI template's: cd frontend && npm run build, which writes backend/app/frontend)",
  );
});
