/**
 * What every process role runs beside its main loop: the mailer, the job
 * system (enqueueing everywhere; working and scheduling where asked) and the
 * feature flag cache. One `stop()` closes them in order.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Database } from "../db/open.ts";
import { createMailer, type Mailer } from "../emails/mailer.ts";
import { emailTemplates } from "../emails/render.ts";
import { serverFacts, serverWarnings } from "../db/server.ts";
import type { AnyJob } from "../jobs/boss.ts";
import { type Jobs, startJobs } from "../jobs/system.ts";
import { startErrorReports } from "../lib/error_reports.ts";
import { bindFlagCache, type FlagCache, startFlagCache } from "../services/flag_cache.ts";
import type { Logger } from "../lib/logging.ts";

/** The running services of one process. */
export interface Services {
  mailer: Mailer;
  jobs: Jobs;
  flags: FlagCache;
  stop(): Promise<void>;
}

/** Starts mailer, job system and flag cache for a role. */
export async function startServices(input: {
  config: Config;
  db: Database;
  log: Logger;
  role: string;
  jobs: AnyJob[];
  work?: boolean;
  schedule?: boolean;
  mailer?: Mailer;
}): Promise<Services> {
  const { config, db, log } = input;
  for (const warning of config.warnings) log.warn(warning);
  for (const warning of serverWarnings(await serverFacts(db.sql))) log.warn(warning);
  // A broken template stops the start, rather than a send hours later.
  for (const warning of emailTemplates().warnings) log.warn(warning);
  const stopReports = await startErrorReports(config, input.role);
  const mailer = input.mailer ?? createMailer(config, log);
  const flags = await startFlagCache(db.sql, log);
  const unbindFlags = bindFlagCache(flags);
  let jobs: Jobs;
  try {
    jobs = await startJobs({ ...input, mailer });
  } catch (error) {
    unbindFlags();
    await flags.stop();
    mailer.close();
    await stopReports();
    throw error;
  }
  return {
    mailer,
    jobs,
    flags,
    async stop() {
      await jobs.stop();
      unbindFlags();
      await flags.stop();
      mailer.close();
      // Last: whatever failed while stopping is still reported (and flushed).
      await stopReports();
    },
  };
}
