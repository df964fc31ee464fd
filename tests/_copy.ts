/**
 * A copy of the project in a temp folder (its tracked files, and new ones
 * not ignored, with `node_modules` linked), for tests that change the
 * project as a user would: its `.env`, its migrations, a generated resource.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestDatabase } from "./_db.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A fresh copy, removed when `db` is disposed. */
export async function projectCopy(db: TestDatabase): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tusk-copy-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard", "-z"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  for (const file of new TextDecoder().decode(listed.stdout).split("\0").filter(Boolean)) {
    try {
      await Deno.mkdir(join(dir, dirname(file)), { recursive: true });
      await Deno.copyFile(join(ROOT, file), join(dir, file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error; // deleted, not yet committed
    }
  }
  await Deno.symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}
