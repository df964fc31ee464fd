/**
 * Sends the runs of `catchUp: "all"` schedules, on every scheduler, every pass: each schedule is
 * taken by one scheduler at a time (FOR UPDATE SKIP LOCKED), which sends a job for each run after
 * the schedule's `last_tick`, up to now and within its window, and moves `last_tick` on in the same
 * transaction. Each job's id is made of the schedule and the run's time, so a run is sent once
 * however many schedulers start together; its singleton key carries the run's time to the handler
 * (`ctx.scheduledFor`).
 *
 * @module
 */
import { CronExpressionParser } from "cron-parser";
import type { PgBoss } from "pg-boss";
import type { Sql } from "../db/client.ts";
import { advanceCaughtUp, listCaughtUp, takeCaughtUp } from "../db/job_schedules_caught_up.ts";
import { uuidOf } from "./client.ts";
import { txAdapter } from "./tx_adapter.ts";

/** The singleton key of a run's job: this, then the run's time. */
export const RUN_KEY_PREFIX = "tusk-run:";

// A schedule every minute, a day behind: 1,440 runs. More than this waits for the next passes.
const MOST_RUNS_PER_PASS = 2_000;

/** The run a job is for, from its singleton key, when a caught-up schedule sent it. */
export function scheduledFor(singletonKey: string | null | undefined): Date | undefined {
  if (!singletonKey?.startsWith(RUN_KEY_PREFIX)) return undefined;
  const at = new Date(singletonKey.slice(RUN_KEY_PREFIX.length));
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The runs of `cron` in `tz` after `after` up to `until`, at most `most`. */
function runsBetween(cron: string, tz: string, after: Date, until: Date, most: number): Date[] {
  const runs: Date[] = [];
  const expression = CronExpressionParser.parse(cron, { tz, currentDate: after });
  while (runs.length < most) {
    const next = expression.next().toDate();
    if (next > until) break;
    runs.push(next);
  }
  return runs;
}

/** One pass over every caught-up schedule; resolves with how many jobs it sent. */
export async function sendCaughtUpRuns(deps: { sql: Sql; boss: PgBoss }): Promise<number> {
  let sent = 0;
  for (const { queue, key } of await listCaughtUp(deps.sql)) {
    sent += await deps.sql.begin(async (tx) => {
      const row = await takeCaughtUp(tx, queue, key);
      if (!row) return 0; // another scheduler has it now
      const windowStart = row.now.getTime() - row.window_seconds * 1000;
      const after = new Date(Math.max(row.last_tick.getTime(), windowStart));
      const runs = runsBetween(row.cron, row.timezone, after, row.now, MOST_RUNS_PER_PASS);
      for (const run of runs) {
        const at = run.toISOString();
        await deps.boss.send(queue, row.data, {
          id: uuidOf(`schedule run\n${queue}\n${key}\n${at}`),
          singletonKey: `${RUN_KEY_PREFIX}${at}`,
          db: txAdapter(tx),
        });
      }
      const reached = runs.length === MOST_RUNS_PER_PASS ? runs.at(-1)! : row.now;
      await advanceCaughtUp(tx, queue, key, reached, runs.length > 0);
      return runs.length;
    });
  }
  return sent;
}
