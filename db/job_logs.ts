/**
 * The `job_logs` table: what each attempt of a job logged.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** One line a handler logged. */
export interface JobLogLine {
  at: string;
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields?: Record<string, unknown>;
}

/** One attempt's lines. */
export interface JobLog {
  attempt: number;
  lines: JobLogLine[];
  /** Lines left out past the bounds. */
  truncated: number;
}

/** Records (or replaces) attempt `attempt`'s lines of job `jobId`. */
export async function saveJobLog(sql: Sql | Tx, jobId: string, log: JobLog): Promise<void> {
  await sql`
    insert into job_logs (job_id, attempt, lines, truncated)
    values (${jobId}, ${log.attempt}, ${sql.json(log.lines as never)}, ${log.truncated})
    on conflict (job_id, attempt) do update set
      lines = excluded.lines, truncated = excluded.truncated, created_at = now()`;
}

/** Job `jobId`'s log, attempt by attempt. */
export async function jobLogs(sql: Sql | Tx, jobId: string): Promise<JobLog[]> {
  return await sql<JobLog[]>`
    select attempt, lines, truncated from job_logs where job_id = ${jobId} order by attempt`;
}

/**
 * Deletes up to `batch` logs of jobs pg-boss no longer keeps (retention removed them), older
 * than `before` so that none of a job being sent right now is touched; returns how many.
 */
export async function deleteOrphanJobLogs(sql: Sql, before: Date, batch: number): Promise<number> {
  const rows = await sql`
    delete from job_logs where (job_id, attempt) in (
      select l.job_id, l.attempt from job_logs l
      where l.created_at < ${before}
        and not exists (select from pgboss.job j where j.id = l.job_id)
      limit ${batch})
    returning 1`;
  return rows.length;
}
