/**
 * Debian's PgBouncer in transaction mode in front of a test database, started
 * by the test and stopped when it is disposed.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { freePort, hasCommand } from "./process.ts";

/** Whether PgBouncer is installed (CI installs it: `apt-get install pgbouncer`). */
export const HAS_PGBOUNCER = hasCommand("pgbouncer");

/** A running PgBouncer: `url` reaches the same database through it. */
export interface PgBouncer extends AsyncDisposable {
  url: string;
  /** What PgBouncer logged (for failure messages). */
  output(): string;
}

/** Starts PgBouncer (transaction pooling, `poolSize` server connections) in front of `dbUrl`. */
export async function startPgBouncer(dbUrl: string, poolSize = 10): Promise<PgBouncer> {
  const target = new URL(dbUrl);
  const user = decodeURIComponent(target.username);
  const database = decodeURIComponent(target.pathname.slice(1));
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "tusk-pgbouncer-" });
  // It drops root for `nobody` before it reads its auth file.
  await Deno.chmod(dir, 0o755);
  const server = [
    `host=${target.hostname}`,
    `port=${target.port || "5432"}`,
    `dbname=${database}`,
    `user=${user}`,
    ...(target.password ? [`password=${decodeURIComponent(target.password)}`] : []),
  ].join(" ");
  await Deno.writeTextFile(join(dir, "users.txt"), `"${user}" ""\n`, { mode: 0o644 });
  await Deno.writeTextFile(
    join(dir, "pgbouncer.ini"),
    `[databases]
${database} = ${server}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "users.txt")}
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 1000
`,
    { mode: 0o644 },
  );
  const child = new Deno.Command("pgbouncer", {
    args: [...(Deno.uid() === 0 ? ["-u", "nobody"] : []), join(dir, "pgbouncer.ini")],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(new WritableStream({ write: (c) => void (log += decoder.decode(c)) }));
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  const url = new URL(dbUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await drained;
    await Deno.remove(dir, { recursive: true });
  };
  // Ready when a query goes through it.
  const started = Date.now();
  for (;;) {
    const probe = postgres(url.toString(), { max: 1, prepare: false, onnotice: () => {} });
    try {
      await probe`select 1`;
      break;
    } catch (error) {
      if (Date.now() - started > 10_000) {
        await stop();
        throw new Error(`PgBouncer did not start: ${error}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await probe.end({ timeout: 1 });
    }
  }
  return { url: url.toString(), output: () => log, [Symbol.asyncDispose]: stop };
}
