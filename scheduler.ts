/**
 * The cron scheduler role (`deno task start-scheduler`), same as `tusk scheduler`.
 *
 * @module
 */
import { runCli } from "./cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(["scheduler", ...Deno.args]));
}
