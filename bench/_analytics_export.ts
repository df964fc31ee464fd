/**
 * One analytics export in a process of its own, as `tusk analytics export`
 * runs it, for `bench:analytics`: prints the manifest and the process's peak
 * resident memory (the kernel's VmHWM) as JSON.
 *
 * Usage: deno run -A bench/_analytics_export.ts DATABASE_URL PARQUET_DATA_PATH
 *
 * @module
 */
import { exportAnalytics } from "../analytics/export.ts";
import { createSql } from "../db/client.ts";
import { createLogger } from "../lib/logging.ts";

if (import.meta.main) {
  const [url, dir] = Deno.args;
  if (!url || !dir) throw new Error("usage: _analytics_export.ts DATABASE_URL PARQUET_DATA_PATH");
  const sql = createSql(url, { role: "cli", poolSize: 2 });
  try {
    const { manifest, publishSeconds } = await exportAnalytics(sql, {
      dir,
      log: createLogger({ level: "warn" }),
    });
    const status = await Deno.readTextFile("/proc/self/status");
    const peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
    console.log(
      JSON.stringify({ manifest, publish_seconds: publishSeconds, peak_rss_bytes: peak }),
    );
  } finally {
    await sql.end();
  }
}
