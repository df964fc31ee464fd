/**
 * The single entry point and binary: `tusk serve | dev | migrate ... | worker | scheduler`.
 * Wiring only; the commands live in `lib/cli.ts`.
 *
 * @module
 */
import { runCli } from "./cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
