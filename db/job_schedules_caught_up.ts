/**
 * The `job_schedules_caught_up` table: schedules whose every run is sent, missed ones included
 * (`catchUp: "all"`), and how far their runs have been sent.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A schedule whose every run Tusk's schedulers send. */
export interface CaughtUpSchedule {
  queue: string;
  key: string;
  cron: string;
  timezone: string;
  data: Record<string, unknown>;
  window_seconds: number;
  /** Runs up to this time have been sent (or passed over, beyond the window). */
  last_tick: Date;
  last_sent_at: Date | null;
}

/** Declares schedule `queue`/`key`; a new one starts sending from now, a known one goes on. */
export async function upsertCaughtUp(
  sql: Sql | Tx,
  s: Pick<CaughtUpSchedule, "queue" | "key" | "cron" | "timezone" | "data" | "window_seconds">,
): Promise<void> {
  await sql`
    insert into job_schedules_caught_up (queue, key, cron, timezone, data, window_seconds)
    values (${s.queue}, ${s.key}, ${s.cron}, ${s.timezone}, ${sql.json(s.data as never)},
      ${s.window_seconds})
    on conflict (queue, key) do update set cron = excluded.cron, timezone = excluded.timezone,
      data = excluded.data, window_seconds = excluded.window_seconds`;
}

/** Every such schedule. */
export async function listCaughtUp(sql: Sql | Tx): Promise<CaughtUpSchedule[]> {
  return await sql<CaughtUpSchedule[]>`
    select queue, key, cron, timezone, data, window_seconds, last_tick, last_sent_at
    from job_schedules_caught_up order by queue, key`;
}

/** Deletes schedule `queue`/`key`; resolves with whether there was one. */
export async function deleteCaughtUp(sql: Sql | Tx, queue: string, key: string): Promise<boolean> {
  const rows = await sql`
    delete from job_schedules_caught_up where queue = ${queue} and key = ${key} returning 1`;
  return rows.length > 0;
}

/**
 * Takes schedule `queue`/`key` for this transaction, unless another scheduler has it: the row and
 * the database's clock.
 */
export async function takeCaughtUp(tx: Tx, queue: string, key: string) {
  const [row] = await tx<(CaughtUpSchedule & { now: Date })[]>`
    select queue, key, cron, timezone, data, window_seconds, last_tick, last_sent_at,
      now() as now
    from job_schedules_caught_up where queue = ${queue} and key = ${key}
    for update skip locked`;
  return row;
}

/** Records that runs up to `tick` were sent (`sent`: at least one job was). */
export async function advanceCaughtUp(
  tx: Tx,
  queue: string,
  key: string,
  tick: Date,
  sent: boolean,
): Promise<void> {
  await tx`
    update job_schedules_caught_up set last_tick = ${tick},
      last_sent_at = case when ${sent} then now() else last_sent_at end
    where queue = ${queue} and key = ${key}`;
}
