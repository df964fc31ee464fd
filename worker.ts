/**
 * The job worker role (`deno task start-worker`), same as `tusk worker`.
 *
 * @module
 */
import { runCli } from "./cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(["worker", ...Deno.args]));
}
