/**
 * Queries over pg-boss's tables that pg-boss has no call for: counts by
 * state, finding a job's queue by id, and using up a job's retries.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/**
 * Planner settings for pg-boss's statements (its own connections take them as libpq `options`,
 * a limited fetch on Tusk's pool sets them in its transaction), so that its hot statements
 * are planned the same with or without table statistics. A job table has none until autovacuum
 * gets to it: a new database, one restored from a dump or moved by pg_upgrade, a burst of jobs
 * that outruns autovacuum, or autovacuum off (CI's PostgreSQL 15 service). Without them Postgres
 * guesses a handful of waiting jobs, and measured on 15 and 18 (BENCHMARKS.md, "Jobs at depth"):
 *
 * - the fetch took a bitmap scan of every waiting job and sorted them all, instead of reading the
 *   head of the index `job_i11` in order: 96 ms for 200 at 200,000 deep, growing with the backlog;
 * - the completion took a bitmap scan of `job_i14` for `state = 'active'`, which returns every
 *   job that was active since the last vacuum (a bitmap scan never marks dead index entries, as
 *   an index scan does on its way): 16 ms per batch at the start of a 1,000,000-job drain, 212 ms
 *   at its end, so the drain ran at a third of its shallow rate.
 *
 * With both plans off the table, a fetch reads a batch and a completion a batch's entries, at any
 * depth. pg-boss writes its statements to be served in index order (its comments in `plans.js`
 * say so); the one that counts on a bitmap, the retention sweep, runs as fast without it.
 */
export const BOSS_PLANNER_SETTINGS = { enable_bitmapscan: "off", enable_sort: "off" } as const;

/** Job states pg-boss uses. */
export const JOB_STATES = [
  "created",
  "retry",
  "active",
  "completed",
  "failed",
  "cancelled",
] as const;

/** One queue's numbers. */
export interface QueueInfo {
  name: string;
  counts: Record<(typeof JOB_STATES)[number], number>;
  /** Age of the oldest job ready to run, or null when none waits. */
  oldest_waiting_seconds: number | null;
  schedules: ScheduleRow[];
}

/** A schedule as the tables keep it. */
export interface ScheduleRow {
  key: string;
  cron: string;
  timezone: string;
  /** pg-boss's `missed` policy (`skip`, `once`), or `all` for Tusk's caught-up schedules. */
  missed: string | null;
  /** When it last sent a job (while that job is kept), else null. */
  last_run: Date | null;
}

/** Counts by state, oldest waiting age and schedules, for every queue but pg-boss's own. */
export async function queueInfo(sql: Sql): Promise<QueueInfo[]> {
  // pg-boss's internal queues (e.g. __pgboss__send-it) are its business, not an operator's.
  const queues = await sql<{ name: string }[]>`
    select name from pgboss.queue where name not like '\_\_pgboss\_\_%' order by name`;
  const counts = await sql<{ name: string; state: string; n: number }[]>`
    select name, state::text, count(*)::int as n from pgboss.job group by 1, 2
  `;
  const oldest = await sql<{ name: string; seconds: number }[]>`
    select name, extract(epoch from now() - min(created_on))::float8 as seconds
    from pgboss.job where state in ('created', 'retry') and start_after <= now()
    group by name
  `;
  // pg-boss's schedules (the last run is the job its last_job_id names), and those whose every
  // missed run Tusk sends (job_schedules_caught_up).
  const schedules = await sql<(ScheduleRow & { name: string })[]>`
    select s.name, s.key, s.cron, s.timezone, s.options->>'missed' as missed,
      j.created_on as last_run
    from pgboss.schedule s
    left join pgboss.job j on j.name = s.name and j.id = s.last_job_id
    union all
    select queue, key, cron, timezone, 'all', last_sent_at from job_schedules_caught_up
    order by 1, 2
  `;
  return queues.map(({ name }) => ({
    name,
    counts: Object.fromEntries(
      JOB_STATES.map((
        state,
      ) => [state, counts.find((c) => c.name === name && c.state === state)?.n ?? 0]),
    ) as QueueInfo["counts"],
    oldest_waiting_seconds: oldest.find((o) => o.name === name)?.seconds ?? null,
    schedules: schedules.filter((s) => s.name === name).map(({ name: _, ...schedule }) => schedule),
  }));
}

/** Whether pg-boss has a queue named `name`. */
export async function queueExists(sql: Sql, name: string): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`
    select exists (select from pgboss.queue where name = ${name}) as found`;
  return row!.found;
}

/** The queue holding job `id`, or undefined when no queue has it. */
export async function jobQueue(sql: Sql, id: string): Promise<string | undefined> {
  const [row] = await sql<{ name: string }[]>`select name from pgboss.job where id = ${id}`;
  return row?.name;
}

/** The id of a waiting or running job in queue `name` (the oldest), or undefined. */
export async function unfinishedJob(sql: Sql, name: string): Promise<string | undefined> {
  const [row] = await sql<{ id: string }[]>`
    select id from pgboss.job where name = ${name} and state <= 'active'
    order by created_on limit 1`;
  return row?.id;
}

/** Jobs that finished in the last hour, per queue. */
export async function recentlyFinished(
  sql: Sql,
): Promise<Map<string, { completed: number; failed: number }>> {
  const rows = await sql<{ name: string; completed: number; failed: number }[]>`
    select name,
      count(*) filter (where state = 'completed')::int as completed,
      count(*) filter (where state = 'failed')::int as failed
    from pgboss.job
    where state in ('completed', 'failed') and completed_on > now() - interval '1 hour'
    group by name
  `;
  return new Map(rows.map(({ name, ...counts }) => [name, counts]));
}

/** A job as a list shows it. */
export interface JobRow {
  id: string;
  name: string;
  state: string;
  retry_count: number;
  retry_limit: number;
  created_on: Date;
  started_on: Date | null;
  completed_on: Date | null;
}

/** A page of queue `name`'s jobs, newest first, in `state` when given, and the total. */
export async function listJobs(
  sql: Sql,
  filter: { name: string; state?: string },
  page: { skip: number; limit: number },
): Promise<{ data: JobRow[]; count: number }> {
  const where = filter.state === undefined
    ? sql`name = ${filter.name}`
    : sql`name = ${filter.name} and state = ${filter.state}::pgboss.job_state`;
  const [total] = await sql<{ count: number }[]>`
    select count(*)::int as count from pgboss.job where ${where}`;
  const data = await sql<JobRow[]>`
    select id, name, state::text, retry_count, retry_limit, created_on, started_on, completed_on
    from pgboss.job where ${where}
    order by created_on desc, id desc offset ${page.skip} limit ${page.limit}
  `;
  return { data, count: total!.count };
}

/** The ids of queue `name`'s failed jobs. */
export async function failedJobIds(sql: Sql, name: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from pgboss.job where name = ${name} and state = 'failed' order by created_on`;
  return rows.map((r) => r.id);
}

/** The newest job of queue `name`, or undefined. */
export async function latestJob(sql: Sql, name: string): Promise<JobRow | undefined> {
  const [row] = await sql<JobRow[]>`
    select id, name, state::text, retry_count, retry_limit, created_on, started_on, completed_on
    from pgboss.job where name = ${name} order by created_on desc limit 1`;
  return row;
}

/**
 * Leaves job `id` of `queue` no retry, so that failing it now is final (and
 * sends it to the dead-letter queue): for a failure that no retry can mend.
 */
export async function useUpRetries(tx: Tx, queue: string, id: string): Promise<void> {
  await tx`update pgboss.job set retry_limit = retry_count where name = ${queue} and id = ${id}`;
}
