/**
 * Where a job's attempt ended, announced and read: workers NOTIFY the ids of the jobs whose attempt
 * they settled on `tusk_jobs_settled`, and whoever awaits a job reads its state and output then.
 * A job that ended for good is counted by its batch, and the jobs that depend on a failed one are
 * cancelled.
 *
 * @module
 */
import type { Sql } from "./client.ts";

/** The channel settled job ids are announced on, comma-separated. */
export const JOBS_SETTLED_CHANNEL = "tusk_jobs_settled";

// 36-character ids and a comma: 200 of them keep a payload under NOTIFY's 8,000 bytes.
const IDS_PER_NOTIFY = 200;

/** How a job ended for good. */
export type Outcome = "completed" | "failed" | "cancelled";

/**
 * Records that the attempts of jobs `ids` settled: with `outcome` when the job ended for good (the
 * batches they belong to count it, once per member), none when it will be retried; and announces
 * them, all in one statement. Resolves with the batches whose last member this ended.
 */
export async function recordSettled(
  sql: Sql,
  outcome: Outcome | undefined,
  ids: string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const payloads: string[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_NOTIFY) {
    payloads.push(ids.slice(i, i + IDS_PER_NOTIFY).join(","));
  }
  const [row] = await sql<{ ended: string[] }[]>`
    with marked as (
      update job_batch_members set outcome = ${outcome ?? null}
      where ${outcome ?? null}::text is not null and job_id = any(${ids}::uuid[])
        and outcome is null
      returning batch_id
    ), counted as (
      update job_batches b set
        completed = b.completed + case when ${outcome ?? null} = 'completed' then m.n else 0 end,
        failed = b.failed + case when ${outcome ?? null} = 'failed' then m.n else 0 end,
        cancelled = b.cancelled + case when ${outcome ?? null} = 'cancelled' then m.n else 0 end
      from (select batch_id, count(*)::int as n from marked group by batch_id) m
      where b.id = m.batch_id
      returning b.id, b.completed + b.failed + b.cancelled = b.total as ended
    ), notified as (
      select pg_notify(${JOBS_SETTLED_CHANNEL}, p) from unnest(${payloads}::text[]) p
    )
    select (select count(*) from notified) as notified,
      coalesce((select array_agg(id) from counted where ended), '{}') as ended`;
  return row!.ended;
}

/**
 * Cancels every job that waits, directly or through others, on jobs `ids` of `queue` (pg-boss
 * leaves them blocked for ever when a parent fails). Resolves with the ids it cancelled.
 */
export async function cancelDependents(sql: Sql, queue: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await sql<{ id: string }[]>`
    with recursive dependents (name, id) as (
      select child_name, child_id from pgboss.job_dependency
      where parent_name = ${queue} and parent_id = any(${ids}::uuid[])
      union
      select d.child_name, d.child_id from pgboss.job_dependency d
      join dependents p on d.parent_name = p.name and d.parent_id = p.id
    )
    update pgboss.job j set state = 'cancelled', completed_on = now(),
      output = jsonb_build_object('message', 'not run: a job it depends on failed or was cancelled')
    from dependents p
    where j.name = p.name and j.id = p.id and j.state in ('created', 'retry')
    returning j.id`;
  return rows.map((r) => r.id);
}

/** Failed or cancelled jobs with dependents still waiting: the ones no worker saw end. */
export async function failedParentsWithWaitingChildren(sql: Sql) {
  return await sql<{ queue: string; id: string }[]>`
    select distinct d.parent_name as queue, d.parent_id as id
    from pgboss.job_dependency d
    join pgboss.job p on p.name = d.parent_name and p.id = d.parent_id
    join pgboss.job c on c.name = d.child_name and c.id = d.child_id
    where p.state in ('failed', 'cancelled') and c.state in ('created', 'retry')`;
}

/** A job's parents (the jobs it waits on) and children (the jobs waiting on it), with states. */
export async function jobRelatives(sql: Sql, queue: string, id: string) {
  const rows = await sql<{ side: string; name: string; id: string; state: string | null }[]>`
    select 'parent' as side, d.parent_name as name, d.parent_id as id, j.state::text as state
    from pgboss.job_dependency d
    left join pgboss.job j on j.name = d.parent_name and j.id = d.parent_id
    where d.child_name = ${queue} and d.child_id = ${id}
    union all
    select 'child', d.child_name, d.child_id, j.state::text
    from pgboss.job_dependency d
    left join pgboss.job j on j.name = d.child_name and j.id = d.child_id
    where d.parent_name = ${queue} and d.parent_id = ${id}
    order by 1, 2, 3`;
  const pick = (side: string) =>
    rows.filter((r) => r.side === side).map(({ name, id, state }) => ({ name, id, state }));
  return { parents: pick("parent"), children: pick("child") };
}

/** A job's state and output as its last settled attempt left them. */
export interface JobOutcome {
  state: string;
  output: unknown;
}

/** Job `id` of queue `queue` as it is now, or undefined when pg-boss no longer keeps it. */
export async function jobOutcome(
  sql: Sql,
  queue: string,
  id: string,
): Promise<JobOutcome | undefined> {
  const [row] = await sql<JobOutcome[]>`
    select state, output from pgboss.job where name = ${queue} and id = ${id}`;
  return row;
}
