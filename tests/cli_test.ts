import assert from "node:assert/strict";
import { TEST_SECRET } from "./_app.ts";
import { migratedDatabase, type TestDatabase } from "./_db.ts";
import { signupStatus } from "./_factories.ts";
import { freePort, hasCommand, startTusk, waitForHttp } from "./process.ts";

/** Runs `tusk ARGS` against `db`; returns exit code and output. */
async function tusk(db: TestDatabase, args: string[], input?: string) {
  await using proc = startTusk(args, { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET }, { input });
  const { code } = await proc.status;
  return { code, out: proc.output() };
}

async function user(db: TestDatabase, email: string) {
  const [row] = await db.sql`select * from users where lower(email) = lower(${email})`;
  return row;
}

async function flag(db: TestDatabase, codename: string) {
  const [row] = await db.sql`select * from feature_flags where codename = ${codename}`;
  return row;
}

Deno.test("users create: --password, piped password, and every refusal", async () => {
  await using db = await migratedDatabase();
  const made = await tusk(db, [
    "users",
    "create",
    "ada@example.com",
    "--superuser",
    "--full-name",
    "Ada L",
    "--password",
    "analytical engine",
  ]);
  assert.equal(made.code, 0, made.out);
  assert.match(made.out, /created superuser ada@example\.com/);
  assert.equal((await user(db, "ada@example.com"))!.full_name, "Ada L");
  assert.doesNotMatch(made.out, /analytical engine/, "the password is never printed");

  const piped = await tusk(db, ["users", "create", "bob@example.com"], "piped password\n");
  assert.equal(piped.code, 0, piped.out);
  assert.equal((await user(db, "bob@example.com"))!.is_superuser, false);

  for (
    const [args, message] of [
      [["users", "create", "ADA@example.com", "--password", "whatever123"], /already exists/],
      [
        ["users", "create", "not-an-email", "--password", "whatever123"],
        /not a valid email address/,
      ],
      [["users", "create", "eve@example.com", "--password", "short"], /8 to 128 characters/],
      [
        ["users", "create", "eve@example.com", "--bogus"],
        /^tusk users create: unknown option --bogus$/m,
      ],
      [["users", "create"], /^tusk users create: missing EMAIL$/m],
      [["users", "frobnicate"], /unknown users command/],
    ] as const
  ) {
    const r = await tusk(db, [...args]);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, message);
    assert.doesNotMatch(r.out, /^\s+at /m, "no stack trace");
  }
  const empty = await tusk(db, ["users", "create", "eve@example.com"], "");
  assert.equal(empty.code, 1);
  assert.match(empty.out, /no password given/);
  assert.equal(await user(db, "eve@example.com"), undefined, "nothing half-done");
  const help = await tusk(db, ["users", "create", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage: tusk users/);
});

Deno.test("argument mistakes name the command, what it expected, and its usage line; exit 1", async () => {
  await using db = await migratedDatabase();
  const cases: [string[], string, string][] = [
    [
      ["users", "list", "--json"],
      "tusk users list: unknown option --json",
      "Usage: tusk users list",
    ],
    [
      ["history", "--limit"],
      "tusk history: --limit needs a value",
      "Usage: tusk history [--table T]",
    ],
    [
      ["flags", "set", "FF_X"],
      "tusk flags set: missing on|off",
      "Usage: tusk flags set CODENAME on|off",
    ],
    [
      ["users", "activate", "a@example.com", "b@example.com"],
      'tusk users activate: unexpected argument "b@example.com"',
      "Usage: tusk users activate EMAIL",
    ],
    [
      ["users", "create", "--superuser=yes", "a@example.com"],
      "tusk users create: --superuser takes no value",
      "Usage: tusk users create EMAIL [--superuser] [--full-name NAME] [--password PASSWORD]",
    ],
  ];
  for (const [args, first, usage] of cases) {
    const r = await tusk(db, args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
    const lines = r.out.split("\n");
    assert.equal(lines[0], first);
    assert.ok(lines.some((l) => l.startsWith(usage)), `${args.join(" ")}: ${r.out}`);
    assert.doesNotMatch(r.out, /To specify a positional|^\s+at /m);
  }
  const help = await tusk(db, ["users", "create", "--help"]);
  assert.equal(help.code, 0);
  assert.equal(
    help.out.trim(),
    "Usage: tusk users create EMAIL [--superuser] [--full-name NAME] [--password PASSWORD]",
  );
});

Deno.test("--help everywhere: the CLI without a command, deno task test, deno task bench", async () => {
  await using bare = startTusk([], {});
  assert.equal((await bare.status).code, 1);
  assert.match(bare.output(), /^tusk: which command\? \(tusk serve runs the API\)$/m);
  assert.match(bare.output(), /^Usage: tusk <command>/m);
  assert.doesNotMatch(bare.output(), /listening|initialising embedded|starting embedded/);
  for (const task of ["test", "bench"]) {
    await using proc = startTusk(["--help"], {}, { task });
    assert.equal((await proc.status).code, 0, proc.output());
    assert.match(proc.output(), new RegExp(`^Usage: deno task ${task}`, "m"));
    assert.doesNotMatch(proc.output(), /embedded Postgres listening|Unknown option/);
  }
});

Deno.test("users activate, deactivate, reset-password and list", async () => {
  await using db = await migratedDatabase();
  await tusk(db, [
    "users",
    "create",
    "root@example.com",
    "--superuser",
    "--password",
    "root password",
  ]);
  await tusk(db, ["users", "create", "carol@example.com", "--password", "carol password"]);

  const off = await tusk(db, ["users", "deactivate", "carol@example.com"]);
  assert.equal(off.code, 0, off.out);
  const deactivated = await user(db, "carol@example.com");
  assert.equal(deactivated!.is_active, false);
  assert.equal((await tusk(db, ["users", "activate", "CAROL@example.com"])).code, 0);
  assert.equal((await user(db, "carol@example.com"))!.is_active, true);

  await db.sql`update users set is_active = false where email = 'carol@example.com'`;
  const before = (await user(db, "carol@example.com"))!;
  const reset = await tusk(db, ["users", "reset-password", "carol@example.com", "brand new pass"]);
  assert.equal(reset.code, 0, reset.out);
  const after = (await user(db, "carol@example.com"))!;
  assert.equal(after.is_active, true, "reset-password re-activates");
  assert.ok(after.token_version > before.token_version, "and revokes tokens");
  assert.notEqual(after.hashed_password, before.hashed_password);

  const last = await tusk(db, ["users", "deactivate", "root@example.com"]);
  assert.equal(last.code, 1);
  assert.match(last.out, /last active superuser/);
  for (
    const args of [["users", "activate", "ghost@example.com"], [
      "users",
      "reset-password",
      "ghost@example.com",
      "whatever123",
    ]]
  ) {
    const r = await tusk(db, args);
    assert.equal(r.code, 1);
    assert.match(r.out, /no user has the email ghost@example\.com/);
  }
  const list = await tusk(db, ["users", "list"]);
  assert.equal(list.code, 0);
  assert.match(list.out, /carol@example\.com .*yes/);
  assert.match(list.out, /2 users/);
});

Deno.test("flags list, create, toggle, set and delete, with refusals", async () => {
  await using db = await migratedDatabase();
  const created = await tusk(db, ["flags", "create", "FF_NEW_UI", "--label", "New UI", "--active"]);
  assert.equal(created.code, 0, created.out);
  assert.equal((await flag(db, "FF_NEW_UI"))!.is_active, true);
  assert.equal((await flag(db, "FF_NEW_UI"))!.label, "New UI");
  assert.match((await tusk(db, ["flags", "toggle", "FF_NEW_UI"])).out, /FF_NEW_UI is off/);
  assert.match((await tusk(db, ["flags", "set", "FF_NEW_UI", "on"])).out, /FF_NEW_UI is on/);
  const list = await tusk(db, ["flags", "list"]);
  assert.match(list.out, /FF_ENABLE_REGISTRATION\s+off/);
  assert.match(list.out, /FF_NEW_UI\s+on\s+New UI/);
  for (
    const [args, message] of [
      [["flags", "create", "FF_NEW_UI"], /already exists/],
      [["flags", "create", "bad name!"], /not a valid flag codename/],
      [["flags", "set", "FF_NEW_UI", "maybe"], /set takes on or off/],
      [["flags", "toggle", "FF_GHOST"], /no flag is named FF_GHOST/],
      [["flags", "set", "FF_GHOST", "off"], /no flag is named FF_GHOST/],
      [["flags", "delete", "FF_GHOST"], /no flag is named FF_GHOST/],
      [["flags"], /Usage: tusk flags/],
    ] as const
  ) {
    const r = await tusk(db, [...args]);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, message);
  }
  assert.equal((await tusk(db, ["flags", "delete", "FF_NEW_UI"])).code, 0);
  assert.equal(await flag(db, "FF_NEW_UI"), undefined);
});

/** Polls signup on a running server until it answers `status`; returns how long that took. */
async function signupAnswers(port: number, status: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await signupStatus(`http://127.0.0.1:${port}`) === status) {
      return performance.now() - started;
    }
    if (performance.now() - started > 10_000) throw new Error(`signup never answered ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a flag flipped by the CLI or by plain SQL reaches a running server within a second", async () => {
  await using db = await migratedDatabase();
  const port = freePort();
  await using server = startTusk(["serve"], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PORT: String(port),
  });
  (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  assert.ok(await signupAnswers(port, 403) < 1000, "closed at start");

  const cli = await tusk(db, ["flags", "set", "FF_ENABLE_REGISTRATION", "on"]);
  assert.equal(cli.code, 0, cli.out);
  const viaCli = await signupAnswers(port, 200);
  assert.ok(viaCli < 1000, `the server saw the CLI change after ${viaCli.toFixed(0)} ms`);

  await db
    .sql`update feature_flags set is_active = false where codename = 'FF_ENABLE_REGISTRATION'`;
  const viaSql = await signupAnswers(port, 403);
  assert.ok(viaSql < 1000, `the server saw the SQL change after ${viaSql.toFixed(0)} ms`);
  server.kill("SIGTERM");
  assert.equal((await server.status).code, 0);
});

const HAS_PSQL = hasCommand("psql");

Deno.test({
  name: "db url prints the configured database; db psql runs psql on it and passes its exit code",
  ignore: !HAS_PSQL,
}, async () => {
  await using db = await migratedDatabase();
  const url = await tusk(db, ["db", "url"]);
  assert.equal(url.code, 0, url.out);
  assert.equal(url.out.trim(), db.url);
  const query = await tusk(db, ["db", "psql", "-tAc", "select current_database()"]);
  assert.equal(query.code, 0, query.out);
  assert.equal(query.out.trim(), db.name);
  const failing = await tusk(db, ["db", "psql", "-v", "ON_ERROR_STOP=1", "-c", "select nope"]);
  assert.notEqual(failing.code, 0, "psql's failure is the command's");
  const unknown = await tusk(db, ["db", "dump"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /unknown db command "dump"; use url or psql/);
});

Deno.test("db psql without psql installed says what to install, exit 1", async () => {
  await using db = await migratedDatabase();
  await using proc = startTusk(["db", "psql"], {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    PATH: "/nonexistent",
  });
  assert.equal((await proc.status).code, 1);
  assert.match(proc.output(), /psql is not installed\. Install the PostgreSQL client/);
});

Deno.test("a CLI change is recorded with the command (password masked); tusk history shows it", async () => {
  await using db = await migratedDatabase();
  const made = await tusk(db, [
    "users",
    "create",
    "cli@example.com",
    "--password",
    "secret words!",
  ]);
  assert.equal(made.code, 0, made.out);
  const reset = await tusk(db, ["users", "reset-password", "cli@example.com", "other words!!"]);
  assert.equal(reset.code, 0, reset.out);
  const rows = await db.sql`
    select e.op, c.metadata ->> 'command' as command from tusk_history.events e
    join tusk_history.contexts c on c.id = e.context_id
    where e.table_name = 'users' order by e.id`;
  assert.deepEqual(rows.map((r) => r.command), [
    "tusk users create cli@example.com --password ***",
  ], "a password change alone records nothing: the hash is excluded");
  await tusk(db, ["users", "deactivate", "cli@example.com"]);

  const shown = await tusk(db, ["history", "--table", "users", "--limit", "5"]);
  assert.equal(shown.code, 0, shown.out);
  assert.match(
    shown.out,
    /users\.update {2}users [0-9a-f-]{36} {2}\(tusk users deactivate cli@example\.com\)/,
  );
  assert.match(shown.out, /is_active: true -> false/);
  assert.match(shown.out, /\+ email: "cli@example\.com"/);
  assert.match(shown.out, /2 of 2 events/);
  assert.doesNotMatch(shown.out, /secret words|other words/);
  const json = await tusk(db, ["history", "--json", "--limit", "1"]);
  assert.equal(JSON.parse(json.out.trim()).diff.is_active[1], false);
  const tracked = (await db.sql<{ table_name: string }[]>`
    select table_name from tusk_history.tracked order by table_name`).map((t) => t.table_name);
  assert.ok(tracked.includes("items") && tracked.includes("users"));
  for (
    const [args, message] of [
      [
        ["history", "--table", "nope"],
        new RegExp(`nope is not a tracked table; tracked: ${tracked.join(", ")}`),
      ],
      [["history", "--user", "ghost@example.com"], /no user has the email ghost@example\.com/],
      [["history", "--limit", "0"], /--limit takes a whole number from 1 to 1000/],
    ] as const
  ) {
    const r = await tusk(db, [...args]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, message);
  }
});

Deno.test("analytics export prints rows, bytes and seconds; status shows the export; bad calls exit 1", async () => {
  await using db = await migratedDatabase();
  const dir = await Deno.makeTempDir({ prefix: "tusk-cli-analytics-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  const env = { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET, PARQUET_DATA_PATH: dir };
  const run = async (args: string[]) => {
    await using proc = startTusk(args, env);
    const { code } = await proc.status;
    return { code, out: proc.output() };
  };
  const none = await run(["analytics", "status"]);
  assert.equal(none.code, 0, none.out);
  assert.match(none.out, /no export yet/);

  const [u] = await db.sql`insert into users (email, hashed_password)
    values ('cli@example.com', 'secret-hash') returning id`;
  await db.sql`insert into items (title, owner_id) select 'i' || g, ${u!.id}
    from generate_series(1, 250) g`;
  const made = await run(["analytics", "export"]);
  assert.equal(made.code, 0, made.out);
  assert.match(made.out, /^users\s+1\s+[\d.]+ [kM]?B\s+users_analytics\.parquet$/m);
  assert.match(made.out, /^items\s+250\s+[\d.]+ [kM]?B\s+items_analytics\.parquet$/m);
  assert.match(made.out, /exported 251 rows \([\d.]+ [kM]?B\) in \d+\.\d\d s to /);
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
  assert.equal(manifest.tables.items.rows, 250);

  const status = await run(["analytics", "status"]);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, new RegExp(`exported at ${manifest.exported_at}`));
  assert.match(status.out, /no export is running/);

  for (const args of [["analytics"], ["analytics", "frobnicate"], ["analytics", "export", "x"]]) {
    const r = await run(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, /Usage: tusk analytics/);
  }
});

Deno.test("flags rule add|remove, rollout, visible, show and explain", async () => {
  await using db = await migratedDatabase();
  await db.sql`insert into users (email, hashed_password, is_superuser)
    values ('ann@example.com', 'x', false), ('bob@other.org', 'x', true)`;
  assert.equal((await tusk(db, ["flags", "create", "FF_STAFF", "--active"])).code, 0);
  const added = await tusk(db, [
    "flags",
    "rule",
    "add",
    "FF_STAFF",
    "--when",
    "email ends_with @EXAMPLE.com",
    "--variant",
    "on",
    "--description",
    "staff",
  ]);
  assert.equal(added.code, 0, added.out);
  const second = await tusk(db, [
    "flags",
    "rule",
    "add",
    "FF_STAFF",
    "--when",
    "is_superuser eq true",
    "--when",
    "email in bob@other.org,carl@other.org",
    "--variant",
    "on",
  ]);
  assert.equal(second.code, 0, second.out);
  assert.deepEqual((await flag(db, "FF_STAFF"))!.rules, [
    {
      description: "staff",
      conditions: [{ attribute: "email", operator: "ends_with", value: "@example.com" }],
      variant: "on",
    },
    {
      conditions: [
        { attribute: "is_superuser", operator: "eq", value: true },
        { attribute: "email", operator: "in", value: ["bob@other.org", "carl@other.org"] },
      ],
      variant: "on",
    },
  ]);
  const ann = await tusk(db, ["flags", "explain", "FF_STAFF", "--user", "ann@example.com"]);
  assert.match(ann.out, /rule 1: staff: email ends_with "@example.com" → on: matched/);
  assert.match(ann.out, /FF_STAFF → on = true \(TARGETING_MATCH\)/);
  const eve = await tusk(db, ["flags", "explain", "FF_STAFF", "--attr", "email=eve@x.org"]);
  assert.match(eve.out, /rule 2: .*: no match/);
  assert.match(eve.out, /FF_STAFF → off = false \(DEFAULT\)/);

  assert.equal((await tusk(db, ["flags", "rollout", "FF_STAFF", "25"])).code, 0);
  assert.equal((await tusk(db, ["flags", "rollout", "FF_STAFF", "40%"])).code, 0);
  const rules = (await flag(db, "FF_STAFF"))!.rules;
  assert.equal(rules.length, 3, "a second rollout changes the rollout rule, adds none");
  assert.deepEqual(rules[2], { description: "rollout", variant: "on", percentage: 40 });
  const keyed = await tusk(db, ["flags", "explain", "FF_STAFF", "--key", "device-1"]);
  assert.match(
    keyed.out,
    /rule 3: rollout: 40 % of subjects → on: (matched|outside the percentage)/,
  );
  assert.match(
    (await tusk(db, ["flags", "show", "FF_STAFF"])).out,
    /3\. rollout: 40 % of subjects → on/,
  );

  assert.equal((await tusk(db, ["flags", "rule", "remove", "FF_STAFF", "1"])).code, 0);
  assert.equal((await flag(db, "FF_STAFF"))!.rules.length, 2);
  assert.match((await tusk(db, ["flags", "visible", "FF_STAFF", "on"])).out, /is visible/);
  assert.equal((await flag(db, "FF_STAFF"))!.client_visible, true);

  const before = (await flag(db, "FF_STAFF"))!.rules;
  for (
    const [args, message] of [
      [["flags", "rollout", "FF_STAFF", "130"], /from 0 to 100/],
      [["flags", "rollout", "FF_STAFF", "lots"], /PERCENT is a number/],
      [
        ["flags", "rule", "add", "FF_STAFF", "--when", "plan like x", "--variant", "on"],
        /Unknown operator/,
      ],
      [["flags", "rule", "add", "FF_STAFF", "--variant", "purple"], /not a variant \(on, off\)/],
      [["flags", "rule", "add", "FF_STAFF", "--split", "on:50,off:20"], /add up to 100/],
      [["flags", "rule", "remove", "FF_STAFF", "9"], /FF_STAFF has rules 1 to 2/],
      [["flags", "rule", "add", "FF_GHOST", "--variant", "on"], /no flag is named FF_GHOST/],
      [["flags", "explain", "FF_STAFF", "--user", "nobody@x.org"], /no user has the email/],
      [["flags", "rule", "frobnicate"], /flags rule takes add or remove/],
    ] as const
  ) {
    const r = await tusk(db, [...args]);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, message);
  }
  assert.deepEqual((await flag(db, "FF_STAFF"))!.rules, before, "a refused change stores nothing");
});
