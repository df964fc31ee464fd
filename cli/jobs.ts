/**
 * `tusk jobs ...`: the queues with their numbers and limits, the schedules, one job with its flow,
 * batch and logs; pause and resume a queue. Every worker sees a pause or a resume within a second;
 * both are recorded in the audit history.
 *
 * @module
 */
import { HttpError } from "../lib/http_error.ts";
import { describeJob, describeLimits, listQueues, setQueuePaused } from "../services/jobs.ts";
import { withDatabase } from "./_db.ts";
import { CliError, parse, printTable, subcommandFallback } from "./_io.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const USAGE = `Usage: tusk jobs <command>

Commands:
  queues                 every queue: paused or not, jobs by state, concurrency and rate limits
  schedules              every cron schedule: catch-up policy, last run, next run
  show ID                one job: state, output, its flow's jobs, its batch, what it logged
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
    case "schedules": {
      if (!parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 })) return 0;
      return await withDatabase(env, async ({ sql }) => {
        const when = (at: Date | null) => at?.toISOString() ?? "-";
        printTable(
          ["QUEUE", "KEY", "CRON", "TIME ZONE", "CATCH-UP", "LAST RUN", "NEXT RUN"],
          (await listQueues(sql)).flatMap((q) =>
            q.schedules.map((s) => [
              q.name,
              s.key,
              s.cron,
              s.timezone,
              s.catch_up,
              when(s.last_run),
              when(s.next_run),
            ])
          ),
        );
        return 0;
      });
    }
    case "show": {
      const p = parse(rest, { usage: USAGE, sub, options: {}, min: 1, max: 1 });
      if (!p) return 0;
      const id = p.positionals[0]!;
      if (!UUID.test(id)) throw new CliError(`${id} is not a job id (a UUID)`);
      return await withDatabase(env, async ({ sql }) => {
        const job = await describeJob(sql, id);
        if (!job) throw new CliError(`no job has the id ${id}`);
        console.log(JSON.stringify(job, null, 2));
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
