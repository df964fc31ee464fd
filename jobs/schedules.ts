/**
 * Keeps the schedules in step with the ones declared in code: adds or updates each, and removes
 * code schedules no longer declared; schedules added at run time (`scheduleCron`) are left alone.
 * A schedule lives in pg-boss (`catchUp` `none` or `latest`: its `missed` policy `skip` or
 * `once`), or, with `catchUp: "all"`, in `job_schedules_caught_up`, whose runs Tusk's schedulers
 * send (`caught_up.ts`); never in both.
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import type { Config } from "../config.ts";
import type { Sql } from "../db/client.ts";
import { deleteCaughtUp, listCaughtUp, upsertCaughtUp } from "../db/job_schedules_caught_up.ts";
import type { Logger } from "../lib/logging.ts";
import type { AnyJob, CatchUp } from "./spec.ts";

const CODE_PREFIX = "code/";

/** How far back `catchUp: "all"` sends missed runs, by default: a day. */
export const DEFAULT_CATCH_UP_WINDOW_SECONDS = 86_400;

/** pg-boss's `missed` policy for each {@link CatchUp} it keeps. */
const MISSED_POLICY = { none: "skip", latest: "once" } as const;

/** A schedule as code or `scheduleCron()` declares it, its data already checked. */
export interface ScheduleSpec {
  cron: string;
  data: object;
  tz?: string;
  catchUp?: CatchUp;
  catchUpWindowSeconds?: number;
}

/** Refuses a catch-up that cannot work for `job`. */
function checkCatchUp(job: AnyJob, s: ScheduleSpec) {
  const catchUp = s.catchUp ?? "none";
  if (catchUp !== "all" && MISSED_POLICY[catchUp] === undefined) {
    throw new RangeError(
      `Job ${job.name}: catchUp must be "none", "latest" or "all", got ${JSON.stringify(catchUp)}`,
    );
  }
  if (catchUp !== "all") return;
  if (job.policy?.singleton || job.policy?.exclusive) {
    throw new RangeError(
      `Job ${job.name}: catchUp "all" sends a job per missed run, which a singleton or ` +
        `exclusive policy would drop; use catchUp "latest"`,
    );
  }
  const window = s.catchUpWindowSeconds ?? DEFAULT_CATCH_UP_WINDOW_SECONDS;
  if (!(Number.isInteger(window) && window >= 1)) {
    throw new RangeError(
      `Job ${job.name}: catchUpWindowSeconds must be a whole number of seconds, at least 1, ` +
        `got ${JSON.stringify(window)}`,
    );
  }
}

/** Puts schedule `key` of `job` where its catch-up says, and takes it out of the other place. */
export async function applySchedule(
  deps: { boss: PgBoss; sql: Sql },
  job: AnyJob,
  key: string,
  s: ScheduleSpec,
): Promise<void> {
  checkCatchUp(job, s);
  const tz = s.tz ?? "UTC";
  if (s.catchUp === "all") {
    await upsertCaughtUp(deps.sql, {
      queue: job.name,
      key,
      cron: s.cron,
      timezone: tz,
      data: s.data as Record<string, unknown>,
      window_seconds: s.catchUpWindowSeconds ?? DEFAULT_CATCH_UP_WINDOW_SECONDS,
    });
    if ((await deps.boss.getSchedules(job.name, key)).length > 0) {
      await deps.boss.unschedule(job.name, key);
    }
    return;
  }
  await deps.boss.schedule(job.name, s.cron, s.data, {
    tz,
    key,
    missed: MISSED_POLICY[s.catchUp ?? "none"],
  });
  await deleteCaughtUp(deps.sql, job.name, key);
}

/** A schedule's catch-up as pg-boss's `missed` option stores it (or `all`, Tusk's own). */
export function catchUpOf(missed: unknown): CatchUp {
  if (missed === "all") return "all";
  return missed === "once" ? "latest" : "none";
}

/** Applies the declared schedules; returns how many were set and removed. */
export async function syncSchedules(
  deps: { boss: PgBoss; sql: Sql },
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
      await applySchedule(deps, job, key, { ...schedule, data });
      declared.add(`${job.name}\n${key}`);
    }
  }
  let removed = 0;
  const existing = [
    ...(await deps.boss.getSchedules()).map((s) => ({ queue: s.name, key: s.key, boss: true })),
    ...(await listCaughtUp(deps.sql)).map((s) => ({ queue: s.queue, key: s.key, boss: false })),
  ];
  for (const s of existing) {
    if (!s.key.startsWith(CODE_PREFIX) || declared.has(`${s.queue}\n${s.key}`)) continue;
    if (s.boss) await deps.boss.unschedule(s.queue, s.key);
    else await deleteCaughtUp(deps.sql, s.queue, s.key);
    removed++;
    log.info("schedule removed: no longer declared in code", { job: s.queue, key: s.key });
  }
  log.info("schedules in step with code", { declared: declared.size, removed });
  return { declared: declared.size, removed };
}
