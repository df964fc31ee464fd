/**
 * `tusk jobs ...`: the queues with their numbers and limits; pause and resume a queue. Every
 * worker sees a pause or a resume within a second; both are recorded in the audit history.
 *
 * @module
 */
import { HttpError } from "../lib/http_error.ts";
import { describeLimits, listQueues, setQueuePaused } from "../services/jobs.ts";
import { withDatabase } from "./_db.ts";
import { CliError, parse, printTable, subcommandFallback } from "./_io.ts";

const USAGE = `Usage: tusk jobs <command>

Commands:
  queues                 every queue: paused or not, jobs by state, concurrency and rate limits
  pause NAME             stop starting the queue's jobs on every worker (they keep arriving)
  resume NAME            start them again`;

/** Runs `tusk jobs ARGS`; returns the exit code. */
export async function jobsCommand(args: string[], env: Record<string, string>): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "queues": {
      if (!parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 })) return 0;
      return await withDatabase(env, async ({ sql }) => {
        printTable(
          ["QUEUE", "STATE", "WAITING", "ACTIVE", "FAILED", "LIMITS"],
          (await listQueues(sql)).map((q) => [
            q.name,
            q.paused ? "paused" : "running",
            String(q.counts.created + q.counts.retry),
            String(q.counts.active),
            String(q.counts.failed),
            describeLimits(q),
          ]),
        );
        return 0;
      });
    }
    case "pause":
    case "resume": {
      const p = parse(rest, { usage: USAGE, sub, options: {}, min: 1, max: 1 });
      if (!p) return 0;
      const name = p.positionals[0]!;
      return await withDatabase(env, async ({ sql }) => {
        try {
          const queue = await setQueuePaused(sql, name, sub === "pause");
          const waiting = queue.counts.created + queue.counts.retry;
          console.log(
            `${queue.name} is ${queue.paused ? "paused" : "running"} (${waiting} waiting)`,
          );
          return 0;
        } catch (error) {
          if (error instanceof HttpError && error.status === 404) {
            throw new CliError(`no queue is named ${name} (tusk jobs queues lists them)`);
          }
          throw error;
        }
      });
    }
    default:
      return subcommandFallback("jobs", sub, USAGE);
  }
}
