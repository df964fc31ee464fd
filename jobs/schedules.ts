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
import type { AnyJob, CatchUp } from "./spec.ts";

const CODE_PREFIX = "code/";

/** pg-boss's `missed` policy for each {@link CatchUp}. */
const MISSED_POLICY = { none: "skip", latest: "once" } as const;

/** pg-boss's `missed` policy for `catchUp` (default `none`); a clear error for anything else. */
export function missedPolicy(job: string, catchUp: CatchUp | undefined): "skip" | "once" {
  const policy = MISSED_POLICY[catchUp ?? "none"];
  if (policy === undefined) {
    throw new RangeError(
      `Job ${job}: catchUp must be "none" or "latest", got ${JSON.stringify(catchUp)}`,
    );
  }
  return policy;
}

/** A schedule's catch-up as pg-boss's `missed` option stores it. */
export function catchUpOf(missed: unknown): CatchUp {
  return missed === "once" ? "latest" : "none";
}

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
      await boss.schedule(job.name, schedule.cron, data, {
        tz: schedule.tz ?? "UTC",
        key,
        missed: missedPolicy(job.name, schedule.catchUp),
      });
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
