/**
 * `tusk history`: recorded changes, newest first, with their diffs.
 *
 * @module
 */
import { type HistoryEvent, listEvents } from "../db/history.ts";
import { emailsByIds, getUserByEmail } from "../db/users.ts";
import { unknownHistoryTable } from "../services/history.ts";
import { withDatabase } from "./_db.ts";
import { CliError, parse, UsageError } from "./_io.ts";

const USAGE = `Usage: tusk history [--table T] [--row ID] [--user EMAIL] [--limit N] [--json]

Recorded changes, newest first:
  --table T      only changes to table T (e.g. items, users)
  --row ID       only changes to the row with this primary key
  --user EMAIL   only changes made by this user (through the API)
  --limit N      at most N events (default 20, at most 1000)
  --json         one JSON event per line, for scripts`;

/** `"a" → "b"` values, short enough for a terminal line. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Who or what made the change, in words. */
function origin(event: HistoryEvent, emails: Map<string, string>): string {
  const c = event.context;
  if (c === null) return `${event.application_name ?? "a session"} as ${event.db_user}`;
  const parts: string[] = [];
  if (typeof c.user_id === "string") parts.push(`by ${emails.get(c.user_id) ?? c.user_id}`);
  if (c.method !== undefined) parts.push(`${c.method} ${c.route ?? ""}`.trim());
  if (c.request_id !== undefined) parts.push(`request ${c.request_id}`);
  if (c.job_name !== undefined) parts.push(`job ${c.job_name} ${c.job_id} attempt ${c.attempt}`);
  if (c.command !== undefined) parts.push(`${c.command}`);
  if (c.reverted_event !== undefined) parts.push(`reverting #${c.reverted_event}`);
  return parts.join(", ") || `context ${c.id}`;
}

function print(event: HistoryEvent, emails: Map<string, string>) {
  console.log(
    `#${event.id}  ${event.at.toISOString()}  ${event.label}  ${event.table} ${event.row_id}  ` +
      `(${origin(event, emails)})`,
  );
  if (event.diff !== null) {
    for (const [field, [before, after]] of Object.entries(event.diff)) {
      console.log(`    ${field}: ${show(before)} -> ${show(after)}`);
    }
  } else {
    const sign = event.op === "delete" ? "-" : "+";
    for (const [field, value] of Object.entries(event.data)) {
      console.log(`    ${sign} ${field}: ${show(value)}`);
    }
  }
}

/** Runs `tusk history ARGS`; returns the exit code. */
export async function historyCommand(args: string[], env: Record<string, string>): Promise<number> {
  const p = parse(args, {
    usage: USAGE,
    options: {
      table: { type: "string" },
      row: { type: "string" },
      user: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
    },
    min: 0,
    max: 0,
  });
  if (!p) return 0;
  const limit = Number(p.values.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new UsageError(`--limit takes a whole number from 1 to 1000, not ${p.values.limit}`);
  }
  return await withDatabase(env, async ({ sql }) => {
    const table = p.values.table;
    if (table !== undefined) {
      const tracked = await unknownHistoryTable(sql, table);
      if (tracked !== undefined) {
        throw new CliError(`${table} is not a tracked table; tracked: ${tracked.join(", ")}`);
      }
    }
    let userId: string | undefined;
    if (p.values.user !== undefined) {
      userId = (await getUserByEmail(sql, p.values.user))?.id;
      if (userId === undefined) throw new CliError(`no user has the email ${p.values.user}`);
    }
    const { data, count } = await listEvents(
      sql,
      { table, row_id: p.values.row, user_id: userId },
      { skip: 0, limit, order: "desc" },
    );
    if (p.values.json) {
      for (const event of data) console.log(JSON.stringify(event));
      return 0;
    }
    const ids = data.map((e) => e.context?.user_id).filter((id) => typeof id === "string");
    const emails = await emailsByIds(sql, [...new Set(ids)]);
    for (const event of data) print(event, emails);
    console.log(
      count === 0 ? "no events" : `${data.length} of ${count} event${count === 1 ? "" : "s"}`,
    );
    return 0;
  });
}
