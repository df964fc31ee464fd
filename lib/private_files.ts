/**
 * Files only this process's user may read: reset links in emails written to
 * disk, personal data in analytics exports. Directories 0700, files 0600,
 * whatever the umask (where the platform has Unix modes).
 *
 * @module
 */

/** The mode for private files, for `Deno.writeFile(..., { mode })` and `Deno.open`. */
export const PRIVATE_FILE_MODE = 0o600;
const PRIVATE_DIR_MODE = 0o700;
const UNIX_MODES = Deno.build.os !== "windows";

/**
 * Creates `dir` (and its parents) if missing, and makes `dir` itself 0700,
 * also when it existed with a wider mode.
 *
 * @example
 * ```ts
 * await privateDir("tmp/app-emails");
 * await Deno.writeTextFile("tmp/app-emails/a.html", html, { mode: PRIVATE_FILE_MODE });
 * ```
 */
export async function privateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (UNIX_MODES) await Deno.chmod(dir, PRIVATE_DIR_MODE);
}

/** Makes an existing file 0600 (e.g. one another library wrote with the umask's mode). */
export async function makePrivate(path: string): Promise<void> {
  if (UNIX_MODES) await Deno.chmod(path, PRIVATE_FILE_MODE);
}
