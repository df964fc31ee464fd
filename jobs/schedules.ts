/**
 * Keeps pg-boss's schedules in step with the schedules declared in code:
 * adds or updates each, and removes code schedules no longer declared.
 * Schedules added at run time (`scheduleCron`) are left alone.
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logging.ts";
import type { AnyJob } from "./boss.ts";

const CODE_PREFIX = "code/";

/** Applies the declared schedules; returns how many were set and removed. */
export async function syncSchedules(
  boss: PgBoss,
  jobs: AnyJob[],
  config: Config,
  log: Logger,
) {
  const declared = new Set<string>();
  for (const job of jobs) {
    const schedules = typeof job.schedules === "function"
      ? job.schedules(config)
      : job.schedules ?? [];
    for (const schedule of schedules) {
      const key = `${CODE_PREFIX}${schedule.key ?? "default"}`;
      const data = job.schema.parse(schedule.data) as object;
      await boss.schedule(job.name, schedule.cron, data, { tz: schedule.tz ?? "UTC", key });
      declared.add(`${job.name}\n${key}`);
    }
  }
  let removed = 0;
  for (const existing of await boss.getSchedules()) {
    if (
      existing.key.startsWith(CODE_PREFIX) && !declared.has(`${existing.name}\n${existing.key}`)
    ) {
      await boss.unschedule(existing.name, existing.key);
      removed++;
      log.info("schedule removed: no longer declared in code", {
        job: existing.name,
        key: existing.key,
      });
    }
  }
  log.info("schedules in step with code", { declared: declared.size, removed });
  return { declared: declared.size, removed };
}
