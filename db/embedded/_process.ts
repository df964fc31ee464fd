/**
 * Reading a Postgres data directory's pid file and telling live, dead,
 * zombie and reused processes apart, for the embedded server's start-up.
 *
 * @module
 */
import { join } from "node:path";

/** Our own marker beside Postgres's: the pid of the process that owns the embedded server. */
export const OWNER_FILE = "tusk_owner.pid";

/** The postmaster serving `dir`, if one is alive (pid file line 1 = pid, line 4 = port). */
export async function runningPostmaster(
  dir: string,
): Promise<{ pid: number; port: number } | undefined> {
  const lines = await readPidFile(dir);
  if (lines === undefined) return undefined;
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!(await isLivePostgres(pid))) return undefined;
  return { pid, port };
}

/**
 * After a `kill -9` the pid file stays; if its pid now belongs to another
 * program, Postgres would refuse to start, so it goes.
 */
export async function removeStalePidFile(dir: string) {
  const lines = await readPidFile(dir);
  if (lines === undefined) return;
  if (!(await isLivePostgres(Number(lines[0])))) {
    await Deno.remove(join(dir, "postmaster.pid")).catch(() => {});
  }
}

async function readPidFile(dir: string): Promise<string[] | undefined> {
  try {
    return (await Deno.readTextFile(join(dir, "postmaster.pid"))).split("\n");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

export async function readOwner(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(join(dir, OWNER_FILE))).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a running (not zombie) process. Asks `ps`, which works on
 * Linux and macOS and, unlike reading /proc, needs no extra Deno permission.
 */
export async function processInfo(pid: number): Promise<{ alive: boolean; command: string }> {
  if (!Number.isInteger(pid) || pid <= 0) return { alive: false, command: "" };
  try {
    const { code, stdout } = await new Deno.Command("ps", {
      args: ["-o", "stat=,args=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const line = new TextDecoder().decode(stdout).trim();
    if (code !== 0 || line === "") return { alive: false, command: "" };
    const [state = "", ...command] = line.split(/\s+/);
    // A zombie has exited; only its parent has not reaped it yet.
    return { alive: !state.startsWith("Z"), command: command.join(" ") };
  } catch {
    // No ps on this system: fall back to signal 0, which cannot see zombies or reuse.
    return { alive: isAlive(pid), command: "postgres" };
  }
}

async function isLivePostgres(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info.alive && info.command.includes("postgres");
}

/** Whether `pid` exists (synchronous; cannot tell a zombie or a reused pid). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (error) {
    // EPERM: alive but someone else's (e.g. the postgres OS user's when we are not root).
    return error instanceof Deno.errors.PermissionDenied;
  }
}
