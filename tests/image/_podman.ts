/**
 * Podman for the image test: whether it can run here, the local base image
 * (Debian from debootstrap plus this machine's Deno, since no registry is
 * reachable), building the app image, and containers that are always removed.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { hasCommand } from "../process.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// Where debootstrap's tree is kept between runs (inside .data, which git ignores).
const BASE_DIR = `${ROOT}.data/image-base`;
const DEBIAN = "localhost/debian:bookworm";
// The mirror apt on these machines already uses.
const MIRROR = "http://deb.debian.org/debian";

/** The local stand-in for `denoland/deno:debian-<version>`. */
export const DENO_BASE = `localhost/tusk-deno:debian-${Deno.version.deno}`;

/** podman's global flags that work on this machine kind (crun fails on its cgroups). */
const GLOBAL = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];
/** `run` flags: the host's network (Postgres on 127.0.0.1), and the limits it accepts. */
const RUN = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/** Output of a finished command. */
export interface Result {
  code: number;
  out: string;
}

/** Runs a command, returning its exit code and combined output. */
export async function sh(cmd: string, args: string[]): Promise<Result> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** podman with this machine's global flags. */
export function podman(args: string[]): Promise<Result> {
  return sh("podman", [...GLOBAL, ...args]);
}

/** Throws with the command's output unless it exited 0. */
export function ok(result: Result, what: string): string {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.out}`);
  return result.out;
}

/** Why podman cannot run containers here, or undefined when it can. */
export async function podmanMissing(): Promise<string | undefined> {
  for (const tool of ["podman", "runc", "debootstrap"]) {
    if (!hasCommand(tool)) {
      return `${tool} is not installed (apt-get install -y podman runc debootstrap)`;
    }
  }
  const info = await podman(["info", "--format", "{{.Host.OCIRuntime.Name}}"]);
  if (info.code !== 0) return `podman cannot start here: ${info.out.trim().split("\n").at(-1)}`;
  return undefined;
}

async function exists(image: string): Promise<boolean> {
  return (await podman(["image", "exists", image])).code === 0;
}

/**
 * Makes the Deno base image unless it exists: Debian bookworm (minbase) from
 * debootstrap, trimmed of apt lists, docs and locales, imported into podman,
 * with this process's `deno` binary copied in.
 */
export async function ensureBase(log: (line: string) => void): Promise<void> {
  if (await exists(DENO_BASE)) return;
  if (!(await exists(DEBIAN))) {
    const rootfs = `${BASE_DIR}/rootfs`;
    await Deno.remove(rootfs, { recursive: true }).catch(() => {});
    await Deno.mkdir(BASE_DIR, { recursive: true });
    log(`image: debootstrap bookworm into ${rootfs} (about a minute)`);
    ok(await sh("debootstrap", ["--variant=minbase", "bookworm", rootfs, MIRROR]), "debootstrap");
    ok(
      await sh("sh", [
        "-c",
        `cd '${rootfs}' && rm -rf var/cache/apt/* var/lib/apt/lists/* usr/share/doc/* ` +
        `usr/share/man/* usr/share/locale/*`,
      ]),
      "trimming the base",
    );
    ok(
      await sh("sh", ["-c", `tar -C '${rootfs}' -c . | podman import - ${DEBIAN}`]),
      "podman import",
    );
    await Deno.remove(rootfs, { recursive: true });
  }
  const context = await Deno.makeTempDir({ prefix: "tusk-deno-base-" });
  try {
    await Deno.copyFile(Deno.execPath(), `${context}/deno`);
    await Deno.writeTextFile(
      `${context}/Containerfile`,
      `FROM ${DEBIAN}\nCOPY deno /usr/local/bin/deno\n`,
    );
    log(`image: building ${DENO_BASE}`);
    ok(await podman(["build", "--isolation=chroot", "-t", DENO_BASE, context]), "base build");
  } finally {
    await Deno.remove(context, { recursive: true });
  }
}

/** Builds the project's Dockerfile on the local base; returns the image's size in bytes. */
export async function buildImage(tag: string): Promise<number> {
  const ca = "/etc/ssl/certs/ca-certificates.crt";
  ok(
    await podman([
      "build",
      "--isolation=chroot",
      // Keeps the HEALTHCHECK (the OCI format has none).
      "--format",
      "docker",
      "-v",
      "/etc/ssl/certs:/etc/ssl/certs:ro",
      "--build-arg",
      `DENO_CERT=${ca}`,
      "--build-arg",
      `DENO_IMAGE=${DENO_BASE}`,
      "-t",
      tag,
      ROOT,
    ]),
    "image build",
  );
  const size = ok(await podman(["image", "inspect", "--format", "{{.Size}}", tag]), "inspect");
  return Number(size.trim());
}

/** A container started detached; `await using` removes it. */
export interface Container extends AsyncDisposable {
  name: string;
  logs(): Promise<string>;
}

/** Starts `tag` detached with `env` and `args`. */
export async function runDetached(
  tag: string,
  env: Record<string, string>,
  args: string[],
): Promise<Container> {
  const name = `tusk-test-${crypto.randomUUID().slice(0, 8)}`;
  ok(await podman(["run", "-d", "--name", name, ...RUN, ...envFlags(env), tag, ...args]), "run");
  return {
    name,
    logs: async () => (await podman(["logs", name])).out,
    async [Symbol.asyncDispose]() {
      await podman(["rm", "-f", "-t", "0", name]);
    },
  };
}

/** Runs `tag` to completion (removed afterwards); exit code and output. */
export function runOnce(tag: string, env: Record<string, string>, args: string[]) {
  return podman(["run", "--rm", ...RUN, ...envFlags(env), tag, ...args]);
}

function envFlags(env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
}
