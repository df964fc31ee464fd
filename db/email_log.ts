/**
 * The `email_log` table: what the worker sent, failed to send or skipped,
 * without bodies or links.
 *
 * @module
 */
import { type Sql, whereAll } from "./client.ts";

/** What became of one message. */
export type EmailStatus = "sent" | "failed" | "skipped";

/** How it went out: `off` means email is disabled. */
export type EmailTransport = "smtp" | "file" | "off";

/** One logged message. */
export interface EmailLogEntry {
  id: string;
  at: Date;
  template: string | null;
  to: string;
  subject: string;
  status: EmailStatus;
  transport: EmailTransport;
  message_id: string | null;
  smtp_response: string | null;
  error: string | null;
  attempt: number | null;
  job_id: string | null;
  user_id: string | null;
}

/** What {@link logEmail} records; the user is found by address when not given. */
export type NewEmailLogEntry = Omit<EmailLogEntry, "id" | "at" | "user_id"> & {
  user_id?: string | null;
};

/** Filters of {@link listEmailLog}; all optional. */
export interface EmailLogFilters {
  /** The recipient, without regard to case. */
  to?: string;
  status?: EmailStatus;
  template?: string;
  user_id?: string;
  since?: Date;
  until?: Date;
}

/** Records one message. */
export async function logEmail(sql: Sql, entry: NewEmailLogEntry): Promise<void> {
  await sql`
    insert into email_log (template, recipient, subject, status, transport, message_id,
      smtp_response, error, attempt, job_id, user_id)
    values (${entry.template}, ${entry.to}, ${entry.subject}, ${entry.status},
      ${entry.transport}, ${entry.message_id}, ${entry.smtp_response}, ${entry.error},
      ${entry.attempt}, ${entry.job_id},
      coalesce(${entry.user_id ?? null}::uuid,
        (select id from users where lower(email) = lower(${entry.to}))))`;
}

function where(sql: Sql, f: EmailLogFilters) {
  return whereAll(sql, [
    f.to === undefined ? undefined : sql`lower(recipient) = lower(${f.to})`,
    f.status === undefined ? undefined : sql`status = ${f.status}`,
    f.template === undefined ? undefined : sql`template = ${f.template}`,
    f.user_id === undefined ? undefined : sql`user_id = ${f.user_id}`,
    f.since === undefined ? undefined : sql`at >= ${f.since}`,
    f.until === undefined ? undefined : sql`at < ${f.until}`,
  ]);
}

/** A page of the log matching `filters`, newest first, with the total. */
export async function listEmailLog(
  sql: Sql,
  filters: EmailLogFilters,
  page: { skip: number; limit: number },
): Promise<{ data: EmailLogEntry[]; count: number }> {
  const [total] = await sql<{ count: number }[]>`
    select count(*)::int as count from email_log ${where(sql, filters)}`;
  const data = await sql<EmailLogEntry[]>`
    select id, at, template, recipient as to, subject, status, transport, message_id,
      smtp_response, error, attempt, job_id, user_id
    from email_log ${where(sql, filters)}
    order by at desc, id desc
    offset ${page.skip} limit ${page.limit}`;
  return { data, count: total!.count };
}

/** Deletes up to `batch` rows older than `before`; the number deleted. */
export async function deleteEmailLogBefore(sql: Sql, before: Date, batch: number): Promise<number> {
  const result = await sql`
    delete from email_log where id in (
      select id from email_log where at < ${before} limit ${batch}
    )`;
  return result.count;
}
