import assert from "node:assert/strict";
import { join } from "node:path";
import {
  freePort,
  hasCommand,
  type StartOptions,
  startTusk,
  type TuskProcess,
  waitForHttp,
} from "../process.ts";

/** A temp home for one embedded cluster, and the env that points Tusk at it. */
async function sandbox() {
  const dir = await Deno.makeTempDir({ prefix: "tusk-embedded-" });
  // Postgres runs as the postgres OS user when we are root: it must reach its data dir.
  await Deno.chmod(dir, 0o755);
  const pgPort = freePort();
  const apiPort = freePort();
  return {
    dir,
    pgDir: join(dir, "pg"),
    apiPort,
    pgPort,
    env: {
      TUSK_DATA_DIR: dir,
      EMBEDDED_PG_DIR: join(dir, "pg"),
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(apiPort),
      SHUTDOWN_TIMEOUT_SECONDS: "5",
    },
    async [Symbol.asyncDispose]() {
      // Whatever a failed test left running goes too.
      const pid = await postmasterPid(join(dir, "pg"));
      if (pid !== undefined && alive(pid)) {
        Deno.kill(pid, "SIGKILL");
        await waitUntil(() => !alive(pid));
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function postmasterPid(pgDir: string): Promise<number | undefined> {
  try {
    return Number((await Deno.readTextFile(join(pgDir, "postmaster.pid"))).split("\n")[0]);
  } catch {
    return undefined;
  }
}

/** `ps` fields for `pid`, or undefined once it is gone or a zombie. */
function ps(pid: number, fields: string): string | undefined {
  const { code, stdout } = new Deno.Command("ps", {
    args: ["-o", `stat=,${fields}=`, "-p", String(pid)],
    stdout: "piped",
  })
    .outputSync();
  const [state, ...rest] = new TextDecoder().decode(stdout).trim().split(/\s+/);
  return code === 0 && state && !state.startsWith("Z") ? rest.join(" ") : undefined;
}

function alive(pid: number): boolean {
  return ps(pid, "pid") !== undefined;
}

async function waitUntil(check: () => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readyDev(
  env: Record<string, string>,
  apiPort: number,
  options: StartOptions = {},
): Promise<TuskProcess> {
  // `deno task dev` already names the command.
  const proc = startTusk(options.task ? [] : ["dev"], env, options);
  try {
    const res = await waitForHttp(`http://127.0.0.1:${apiPort}/readyz`, 200, 90_000);
    await res.body?.cancel();
  } catch (error) {
    await proc[Symbol.asyncDispose]();
    throw new Error(`${error}\n${proc.output()}`);
  }
  return proc;
}

Deno.test("embedded Postgres initialises, serves, and stops with the process", async () => {
  await using box = await sandbox();
  const proc = await readyDev(box.env, box.apiPort);
  await using _ = proc;
  assert.match(proc.output(), /initialising embedded Postgres/);
  const pid = await postmasterPid(box.pgDir);
  assert.ok(pid && alive(pid));
  proc.kill("SIGTERM");
  assert.equal((await proc.status).code, 0, proc.output());
  assert.match(proc.output(), /embedded Postgres stopped/);
  assert.equal(alive(pid), false, "the postmaster outlived the process");
});

Deno.test("Ctrl-C on `deno task dev` (SIGINT to the group, twice) stops it and its Postgres", async () => {
  await using box = await sandbox();
  // `dev` itself is started by `deno task`, in its own process group, as in a terminal.
  await using proc = await readyDev(box.env, box.apiPort, { task: "dev" });
  const pid = await postmasterPid(box.pgDir);
  assert.ok(pid && alive(pid));
  // The terminal signals the group; `deno task` forwards it once more; and a second
  // burst follows at once, as a duplicate Ctrl-C would.
  proc.killGroup("SIGINT");
  await new Promise((r) => setTimeout(r, 2));
  proc.killGroup("SIGINT");
  const status = await proc.status;
  assert.equal(status.code, 0, proc.output());
  assert.match(proc.output(), /embedded Postgres stopped/);
  assert.equal((proc.output().match(/"shutting down"/g) ?? []).length, 1, proc.output());
  assert.equal(alive(pid), false, "the postmaster outlived Ctrl-C");
});

Deno.test("a process that exits before stopping its embedded Postgres stops it on the way out", async () => {
  await using box = await sandbox();
  const entry = new URL("../fixtures/embedded_exit.ts", import.meta.url).pathname;
  await using proc = startTusk([], box.env, { entry });
  assert.equal((await proc.status).code, 0, proc.output());
  assert.match(proc.output(), /ready/);
  assert.match(proc.output(), /embedded Postgres stopped at exit/);
  assert.equal(await postmasterPid(box.pgDir), undefined, "the pid file outlived the postmaster");
});

Deno.test("embedded Postgres is adopted after its owner is killed with SIGKILL", async () => {
  await using box = await sandbox();
  {
    await using first = await readyDev(box.env, box.apiPort);
    first.kill("SIGKILL");
    await first.status;
  }
  const orphan = await postmasterPid(box.pgDir);
  assert.ok(orphan && alive(orphan), "the postmaster should survive its owner's SIGKILL");
  await using second = await readyDev(box.env, box.apiPort);
  assert.match(second.output(), /adopted the embedded Postgres/);
  second.kill("SIGTERM");
  assert.equal((await second.status).code, 0, second.output());
  await waitUntil(() => !alive(orphan));
});

Deno.test("embedded Postgres recovers after the postmaster itself is killed with SIGKILL", async () => {
  await using box = await sandbox();
  {
    await using first = await readyDev(box.env, box.apiPort);
    const pid = (await postmasterPid(box.pgDir))!;
    Deno.kill(pid, "SIGKILL");
    first.kill("SIGKILL");
    await first.status;
    await waitUntil(() => !alive(pid));
  }
  // The stale postmaster.pid stays behind; the next start must cope with it.
  assert.ok(await postmasterPid(box.pgDir));
  await using second = await readyDev(box.env, box.apiPort);
  second.kill("SIGTERM");
  assert.equal((await second.status).code, 0, second.output());
});

Deno.test("a taken embedded Postgres port is reported clearly, with exit 1", async () => {
  await using box = await sandbox();
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: box.pgPort });
  try {
    // Accept and drop connections so the port answers like a foreign server would.
    (async () => {
      for await (const conn of squatter) conn.close();
    })().catch(() => {});
    await using proc = startTusk(["migrate", "status"], box.env);
    const { code } = await proc.status;
    assert.equal(code, 1);
    const out = proc.output();
    assert.match(out, new RegExp(`Port ${box.pgPort} on 127\\.0\\.0\\.1 is already in use`));
    assert.match(out, /set EMBEDDED_PG_PORT to a free port/);
    assert.doesNotMatch(out, /^\s+at /m, "no stack trace");
  } finally {
    squatter.close();
  }
});

Deno.test("as root, embedded Postgres runs as the postgres OS user", {
  ignore: Deno.uid() !== 0,
}, async () => {
  await using box = await sandbox();
  await using proc = await readyDev(box.env, box.apiPort);
  const pid = (await postmasterPid(box.pgDir))!;
  const uid = Number(ps(pid, "uid"));
  assert.notEqual(uid, 0);
  assert.equal((await Deno.stat(box.pgDir)).uid, uid);
  proc.kill("SIGTERM");
  assert.equal((await proc.status).code, 0);
});

Deno.test("as a normal user, embedded Postgres initialises and runs as that user", {
  ignore: Deno.uid() !== 0,
}, async () => {
  await using box = await sandbox();
  await Deno.chmod(box.dir, 0o777);
  const denoDir = join(box.dir, "deno");
  const nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
  const env = Object.entries({
    ...box.env,
    HOME: box.dir,
    DENO_DIR: denoDir,
    TUSK_ENV_FILE: "/none",
  })
    .map(([k, v]) => `${k}=${v}`);
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command("setpriv", {
    args: [
      ...nobody,
      "env",
      "-i",
      `PATH=${Deno.env.get("PATH")}`,
      ...env,
      Deno.execPath(),
      "run",
      "-A",
      main,
      "migrate",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, out);
  assert.match(out, /applied 0001_users_items\.sql/);
  assert.equal((await Deno.stat(box.pgDir)).uid, 65534);
});

Deno.test("a second process uses the running embedded Postgres and leaves it running", async () => {
  await using box = await sandbox();
  await using dev = await readyDev(box.env, box.apiPort);
  const pid = await postmasterPid(box.pgDir);
  {
    await using cli = startTusk(["migrate", "status"], box.env);
    assert.equal((await cli.status).code, 0, cli.output());
    assert.match(cli.output(), /using the running embedded Postgres/);
    assert.doesNotMatch(cli.output(), /embedded Postgres stopped/);
  }
  {
    await using url = startTusk(["db", "url"], box.env);
    assert.equal((await url.status).code, 0, url.output());
    assert.match(
      url.output(),
      new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${box.pgPort}/tusk$`, "m"),
    );
    assert.doesNotMatch(url.output(), /stops again/, "dev keeps it running");
  }
  // psql comes with the PostgreSQL client packages (on the CI machine with its PostgreSQL 15).
  if (hasCommand("psql")) {
    await using psql = startTusk(["db", "psql", "-tAc", "select count(*) from users"], box.env);
    assert.equal((await psql.status).code, 0, psql.output());
    assert.match(psql.output(), /^0$/m, "psql reached the migrated application database");
  }
  assert.equal(await postmasterPid(box.pgDir), pid);
  const res = await fetch(`http://127.0.0.1:${box.apiPort}/readyz`);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  dev.kill("SIGTERM");
  assert.equal((await dev.status).code, 0);
  await waitUntil(() => !alive(pid!));
});
