/**
 * `export-analytics`: writes `users` and `items` to Parquet for the analytics
 * endpoints (see `analytics/export.ts`). Scheduled at `ANALYTICS_EXPORT_CRON`;
 * queued on demand by `POST /analytics/export`. The queue's `exclusive`
 * policy keeps at most one waiting or running, and the export's lock makes a
 * CLI export at the same time wait for it and share its result.
 *
 * @module
 */
import { z } from "zod";
import { exportAnalytics, exportReplicas } from "../analytics/export.ts";
import type { Sql } from "../db/client.ts";
import { unfinishedJob } from "../db/jobs.ts";
import { defineJob } from "./define.ts";

/** The export's queue. */
export const EXPORT_QUEUE = "export-analytics";

/** Exports the analytics files and returns what it wrote. */
export const exportAnalyticsJob = defineJob({
  name: EXPORT_QUEUE,
  schema: z.object({}),
  policy: {
    exclusive: true,
    // A failed export leaves the last one in place; two more tries, a minute apart, then the
    // next scheduled run.
    retryLimit: 2,
    retryDelay: 60,
    retryBackoff: false,
    // A million rows take seconds; an hour covers tables far past that on a slow disk.
    expireInSeconds: 3600,
    // Finished exports say little that the manifest does not; keep them a day for inspection.
    deleteAfterSeconds: 86_400,
  },
  schedules: (config) =>
    config.analytics.exportCron === undefined
      ? []
      : [{ cron: config.analytics.exportCron, data: {} }],
  async handler(_data, { sql, config, log, signal }) {
    const { manifest, joined, replica } = await exportAnalytics(sql, {
      dir: config.analytics.dir,
      log,
      signal,
      replicas: exportReplicas(config, "worker"),
    });
    return {
      joined,
      // Where the snapshot was read: a replica's host:port, or the primary.
      snapshot_from: replica ?? "primary",
      exported_at: manifest.exported_at,
      generation: manifest.generation,
      users: manifest.tables.users.rows,
      items: manifest.tables.items.rows,
      bytes: manifest.tables.users.bytes + manifest.tables.items.bytes,
      seconds: manifest.duration_seconds,
    };
  },
});

// A job that finished between our send and our look-up: send again, a few times at most.
const ENQUEUE_TRIES = 3;

/**
 * Queues an export unless one is waiting or running; resolves with the id of
 * the job that will do it (the new one, or the one already there).
 */
export async function requestExport(sql: Sql): Promise<string> {
  for (let i = 0; i < ENQUEUE_TRIES; i++) {
    const id = await exportAnalyticsJob.delay({}) ?? await unfinishedJob(sql, EXPORT_QUEUE);
    if (id !== undefined) return id;
  }
  throw new Error("The analytics export could not be queued: the queue kept refusing it");
}
