/**
 * The worker and scheduler roles: open the database, start the job system,
 * and stop gracefully on SIGINT/SIGTERM.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { openDatabase } from "../db/open.ts";
import type { AnyJob } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { startServices } from "./runtime.ts";
import type { Logger } from "../lib/logging.ts";
import { requireMigrated } from "./serve.ts";
import { listenForShutdown } from "../lib/signals.ts";

/**
 * Runs `role` until a signal. A worker stops fetching, lets running jobs
 * finish within `WORKER_SHUTDOWN_TIMEOUT`, releases the rest for retry, and
 * resolves (the process then exits 0).
 */
export async function runRole(
  role: "worker" | "scheduler",
  config: Config,
  log: Logger,
  jobs: AnyJob[] = JOBS,
): Promise<void> {
  // Listening from the start: a signal during start-up still shuts down cleanly.
  using signals = listenForShutdown({ log });
  const db = await openDatabase(config, { role, log });
  try {
    await requireMigrated(db);
    const services = await startServices({
      config,
      db,
      log,
      jobs,
      role,
      work: role === "worker",
      schedule: role === "scheduler",
    });
    log.info(`${role} ready`);
    const signal = await signals.received;
    log.info("shutting down", { signal });
    await services.stop();
  } finally {
    await db.close();
  }
  log.info("stopped");
}
