/**
 * `tusk analytics export | status`: run the Parquet export now, in this
 * process, or show what the last one wrote.
 *
 * @module
 */
import { AnalyticsUnavailableError } from "../analytics/duckdb.ts";
import { exportAnalytics, exportReplicas } from "../analytics/export.ts";
import type { Manifest } from "../analytics/files.ts";
import { currentManifest } from "../analytics/published.ts";
import { exportRunning } from "../db/analytics.ts";
import { cliLogger, withDatabase } from "./_db.ts";
import { CliError, parse, printTable, subcommandFallback } from "./_io.ts";

const USAGE = `Usage: tusk analytics <command>

Commands:
  export    export users and items to Parquet now (PARQUET_DATA_PATH); if an export is
            already running (a job, another export command), wait for it and show its result
  status    when the files were exported, their rows and sizes, and whether an export runs`;

/** 812 B, 45.3 kB, 16.81 MB. */
function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function printManifest(manifest: Manifest) {
  printTable(
    ["TABLE", "ROWS", "SIZE", "FILE"],
    (["users", "items"] as const).map((t) => [
      t,
      String(manifest.tables[t].rows),
      size(manifest.tables[t].bytes),
      manifest.tables[t].file,
    ]),
  );
}

/** Runs `tusk analytics ARGS`; returns the exit code. */
export async function analyticsCommand(
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "export": {
      if (!parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 })) return 0;
      return await withDatabase(env, async ({ sql }, config) => {
        const dir = config.analytics.dir;
        try {
          const { manifest, joined, replica } = await exportAnalytics(sql, {
            dir,
            log: cliLogger(config),
            replicas: exportReplicas(config, "cli"),
          });
          if (joined) console.log("another export was running; this is what it wrote:");
          printManifest(manifest);
          const rows = manifest.tables.users.rows + manifest.tables.items.rows;
          const bytes = manifest.tables.users.bytes + manifest.tables.items.bytes;
          console.log(
            `exported ${rows} rows (${size(bytes)}) in ${
              manifest.duration_seconds.toFixed(2)
            } s to ${dir}; snapshot taken at ${manifest.exported_at}${
              replica === undefined ? "" : ` on the replica ${replica}`
            }`,
          );
          return 0;
        } catch (error) {
          if (error instanceof AnalyticsUnavailableError) throw new CliError(error.message);
          throw error;
        }
      });
    }
    case "status": {
      if (!parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 })) return 0;
      return await withDatabase(env, async ({ sql }, config) => {
        const manifest = await currentManifest(sql, config.analytics.dir);
        const running = await exportRunning(sql);
        if (manifest === undefined) {
          console.log(
            `no export yet in ${config.analytics.dir}; run: deno task cli analytics export`,
          );
        } else {
          const m = manifest;
          console.log(`exported at ${m.exported_at} (took ${m.duration_seconds} s)`);
          printManifest(m);
        }
        console.log(running ? "an export is running now" : "no export is running");
        return 0;
      });
    }
    default:
      return subcommandFallback("analytics", sub, USAGE);
  }
}
