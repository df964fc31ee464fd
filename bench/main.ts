/**
 * `deno task bench`: every benchmark in turn (jobs, audit history, tracing, analytics),
 * each given the command line's options that concern it.
 *
 * Usage: deno task bench [--runs N] [--jobs N] [--latency N] [--writes N] [--events N] [--queries N]
 *                        [--seconds N] [--clients N] [--items N]
 *
 * @module
 */
import { main as analytics } from "./analytics_bench.ts";
import { main as history } from "./history_bench.ts";
import { main as jobs } from "./jobs_bench.ts";
import { main as tracing } from "./tracing_bench.ts";

if (import.meta.main) {
  await jobs();
  await history();
  await tracing();
  await analytics();
}
