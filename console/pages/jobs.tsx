/**
 * Jobs: every queue by state, paused or not, with its limits; a queue's jobs
 * page by page, one job's data (secrets redacted), output, error and stack;
 * pause and resume, retry, cancel and retry-all-failed, by the job API's own
 * rules (`services/jobs.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import type { JobWithMetadata } from "pg-boss";
import { JOB_STATES, listJobs } from "../../db/jobs.ts";
import type { JobLog } from "../../db/job_logs.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { AppDeps } from "../../http/router.ts";
import {
  ACTION_STATES,
  actOnJob,
  describeLimits,
  findJob,
  type JobExtras,
  jobExtras,
  listQueues,
  type QueueView,
  redactSecrets,
  retryFailed,
  setQueuePaused,
} from "../../services/jobs.ts";
import { formFields, pageParam, textParam, uuidParam } from "../params.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { setFlash } from "../session.ts";
import { Confirm, Head, href, Json, page, PAGE_SIZE, Pager, When } from "../ui.tsx";

type State = (typeof JOB_STATES)[number];

function jobsUrl(c: ConsoleContext, queue: string, state?: string): string {
  const q = `queue=${encodeURIComponent(queue)}`;
  return href(c, `/jobs?${q}${state ? `&state=${state}` : ""}`);
}

function stateParam(c: ConsoleContext): State | undefined {
  const state = textParam(c, "state");
  if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
    throw new HttpError(400, `state must be one of: ${JOB_STATES.join(", ")}`);
  }
  return state as State | undefined;
}

const Queues = ({ c, queues }: { c: ConsoleContext; queues: QueueView[] }) => (
  <table>
    <thead>
      <tr>
        <th scope="col">Queue</th>
        <th scope="col">Runs</th>
        {JOB_STATES.map((s) => <th key={s} scope="col" class="num">{s}</th>)}
        <th scope="col">Limits</th>
      </tr>
    </thead>
    <tbody>
      {queues.map((q) => (
        <tr>
          <th scope="row">
            <a href={jobsUrl(c, q.name)}>{q.name}</a>
          </th>
          <td>{q.paused ? <span class="state failed">paused</span> : "yes"}</td>
          {JOB_STATES.map((s) => (
            <td class="num">
              {q.counts[s] > 0 ? <a href={jobsUrl(c, q.name, s)}>{q.counts[s]}</a> : 0}
            </td>
          ))}
          <td>{describeLimits(q)}</td>
        </tr>
      ))}
    </tbody>
  </table>
);

async function queuePage(c: ConsoleContext, deps: AppDeps, queue: string) {
  const queues = await listQueues(deps.sql);
  const info = queues.find((q) => q.name === queue);
  if (info === undefined) throw new HttpError(404, `There is no queue named ${queue}`);
  const state = stateParam(c);
  const current = pageParam(c);
  const jobs = await listJobs(deps.sql, { name: queue, state }, {
    skip: (current - 1) * PAGE_SIZE,
    limit: PAGE_SIZE,
  });
  return page(
    c,
    "Jobs",
    <div>
      <p>
        <a href={href(c, "/jobs")}>All queues</a> › <strong>{queue}</strong>
      </p>
      <nav aria-label="States" class="tabs">
        <a href={jobsUrl(c, queue)} aria-current={state === undefined ? "page" : undefined}>
          all
        </a>
        {JOB_STATES.map((s) => (
          <a href={jobsUrl(c, queue, s)} aria-current={state === s ? "page" : undefined}>
            {s} ({info.counts[s]})
          </a>
        ))}
      </nav>
      <p>
        {info.paused
          ? <strong>Paused: jobs arrive and wait; no worker starts them.</strong>
          : "Running."} {describeLimits(info) && `Limits: ${describeLimits(info)}.`}
      </p>
      <Confirm
        c={c}
        action={href(c, info.paused ? "/jobs/resume" : "/jobs/pause")}
        label={info.paused ? `Resume ${queue}` : `Pause ${queue}`}
        confirm={info.paused ? "Yes, start its jobs again" : "Yes, pause it"}
        fields={{ queue }}
        danger={!info.paused}
      >
        {info.paused
          ? "Every worker starts this queue's jobs again, within a second."
          : "Every worker stops starting this queue's jobs within a second; running jobs finish, and new ones wait."}
      </Confirm>
      {info.counts.failed > 0 && (
        <Confirm
          c={c}
          action={href(c, "/jobs/retry-failed")}
          label={`Retry all ${info.counts.failed} failed`}
          confirm={`Yes, retry ${info.counts.failed} failed jobs`}
          fields={{ queue }}
        >
          Every failed job in {queue} is queued again, with one more attempt each.
        </Confirm>
      )}
      <h2>{state ?? "All"} jobs in {queue}</h2>
      {jobs.count === 0 ? <p>No jobs.</p> : (
        <table>
          <Head cols={["Job", "State", ["Retries", "num"], "Created", "Finished"]} />
          <tbody>
            {jobs.data.map((j) => (
              <tr>
                <th scope="row">
                  <a href={href(c, `/jobs/${j.id}`)}>
                    <code>{j.id}</code>
                  </a>
                </th>
                <td>
                  <span class={`state ${j.state}`}>{j.state}</span>
                </td>
                <td class="num">{j.retry_count} of {j.retry_limit}</td>
                <td>
                  <When at={j.created_on} />
                </td>
                <td>
                  <When at={j.completed_on} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager base={href(c, "/jobs")} query={{ queue, state }} page={current} count={jobs.count} />
    </div>,
  );
}

/** The output, split into the error (a failed attempt's) and anything else. */
function failureOf(job: JobWithMetadata<unknown>) {
  const output = job.output as Record<string, unknown> | null | undefined;
  if (output && typeof output === "object" && "message" in output && "stack" in output) {
    return { message: String(output.message), stack: String(output.stack ?? "") };
  }
  return undefined;
}

/** What each attempt's handler logged, oldest first. */
const Logs = ({ logs }: { logs: JobLog[] }) => (
  <div>
    <h3>Log</h3>
    {logs.length === 0 ? <p>The handler logged nothing.</p> : logs.map((l) => (
      <section>
        <h4>
          Attempt {l.attempt}
          {l.truncated > 0 && ` (${l.truncated} more lines left out)`}
        </h4>
        <pre class="stack" tabindex={0} aria-label={`Log of attempt ${l.attempt}`}>
          {l.lines.map((line) =>
            `${line.at} ${line.level.toUpperCase()} ${line.msg}${
              line.fields ? ` ${JSON.stringify(line.fields)}` : ""
            }\n`
          ).join("")}
        </pre>
      </section>
    ))}
  </div>
);

/** The jobs of its flow a job starts after, and those that start after it. */
const Relatives = (
  { c, title, jobs }: { c: ConsoleContext; title: string; jobs: JobExtras["parents"] },
) =>
  jobs.length === 0 ? null : (
    <div>
      <h3>{title}</h3>
      <ul>
        {jobs.map((j) => (
          <li>
            <a href={href(c, `/jobs/${j.id}`)}>{j.name}</a>{" "}
            <span class={`state ${j.state ?? "gone"}`}>{j.state ?? "no longer kept"}</span>
          </li>
        ))}
      </ul>
    </div>
  );

/** The batch a job belongs to: how its members ended, and its callback. */
const Batch = ({ c, batch }: { c: ConsoleContext; batch: JobExtras["batch"] }) =>
  batch === undefined ? null : (
    <div>
      <h3>Batch: {batch.name}</h3>
      <p>
        {batch.total} jobs: {batch.completed} completed, {batch.failed} failed, {batch.cancelled}
        {" "}
        cancelled, {batch.total - batch.completed - batch.failed - batch.cancelled} not ended.
        {batch.callback_job_id && (
          <span>
            {" Callback: "}
            <a href={href(c, `/jobs/${batch.callback_job_id}`)}>sent</a>.
          </span>
        )}
      </p>
    </div>
  );

function jobPage(c: ConsoleContext, job: JobWithMetadata<unknown>, extras: JobExtras) {
  const logs = extras.logs;
  const failure = failureOf(job);
  const actions = (Object.keys(ACTION_STATES) as (keyof typeof ACTION_STATES)[])
    .filter((a) => ACTION_STATES[a].includes(job.state));
  return page(
    c,
    "Jobs",
    <div>
      <p>
        <a href={href(c, "/jobs")}>All queues</a> › <a href={jobsUrl(c, job.name)}>{job.name}</a> ›
        {" "}
        <code>{job.id}</code>
      </p>
      <h2>
        Job in {job.name}: <span class={`state ${job.state}`}>{job.state}</span>
      </h2>
      <dl class="facts">
        <dt>Attempts</dt>
        <dd>
          {job.retryCount + (job.startedOn ? 1 : 0)} (retries used {job.retryCount} of{" "}
          {job.retryLimit})
        </dd>
        <dt>Created</dt>
        <dd>
          <When at={job.createdOn} />
        </dd>
        <dt>Runs after</dt>
        <dd>
          <When at={job.startAfter} />
        </dd>
        <dt>Started</dt>
        <dd>
          <When at={job.startedOn} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <When at={job.completedOn} />
        </dd>
      </dl>
      <div class="actions">
        {actions.map((action) => (
          <Confirm
            c={c}
            action={href(c, `/jobs/${job.id}/${action}`)}
            label={action === "retry" ? "Retry" : "Cancel"}
            confirm={action === "retry" ? "Yes, run it again" : "Yes, cancel it"}
            danger={action === "cancel"}
          >
            {action === "retry"
              ? "The job is queued again and runs on the next free worker."
              : "The job will not run (again); a running attempt is told to stop."}
          </Confirm>
        ))}
      </div>
      <h3>Data</h3>
      <Json value={redactSecrets(job.data)} label="Job data" />
      {failure
        ? (
          <div>
            <h3>Error</h3>
            <p class="flash error">{failure.message}</p>
            <h3>Stack</h3>
            <pre class="stack" tabindex={0} aria-label="Stack trace">{failure.stack}</pre>
          </div>
        )
        : (
          <div>
            <h3>Output</h3>
            <Json value={redactSecrets(job.output ?? null)} label="Job output" />
          </div>
        )}
      <Relatives c={c} title="Starts after" jobs={extras.parents} />
      <Relatives c={c} title="Jobs that start after it" jobs={extras.children} />
      <Batch c={c} batch={extras.batch} />
      <Logs logs={logs} />
    </div>,
  );
}

/** `/jobs`, `/jobs/:id` and the job actions. */
export function jobPages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/jobs", async (c) => {
    const queue = textParam(c, "queue");
    if (queue !== undefined) return await queuePage(c, deps, queue);
    return page(c, "Jobs", <Queues c={c} queues={await listQueues(sql)} />);
  });

  for (const action of ["pause", "resume"] as const) {
    router.post(`/jobs/${action}`, async (c) => {
      const { queue } = await formFields(c);
      if (!queue) throw new HttpError(400, `Say which queue to ${action}`);
      // Recorded in audit history (job_queue_controls is tracked), with this console session.
      await setQueuePaused(sql, queue, action === "pause");
      setFlash(c, {
        kind: "ok",
        text: action === "pause"
          ? `${queue} is paused: no worker starts its jobs.`
          : `${queue} runs again.`,
      });
      return c.redirect(jobsUrl(c, queue), 303);
    });
  }

  router.post("/jobs/retry-failed", async (c) => {
    const { queue } = await formFields(c);
    if (!queue) throw new HttpError(400, "Say which queue's failed jobs to retry");
    const queues = await listQueues(sql);
    if (!queues.some((q) => q.name === queue)) {
      throw new HttpError(404, `There is no queue named ${queue}`);
    }
    const n = await retryFailed(sql, queue);
    // pg-boss's tables are not in audit history (far too busy): the log records who did it.
    deps.log.info("console: failed jobs retried", {
      queue,
      jobs: n,
      user_id: c.get("operator").id,
      request_id: c.get("requestId"),
    });
    setFlash(c, {
      kind: "ok",
      text: `${n} failed job${n === 1 ? "" : "s"} in ${queue} queued again.`,
    });
    return c.redirect(jobsUrl(c, queue), 303);
  });

  router.get("/jobs/:id", async (c) => {
    const job = await findJob(sql, uuidParam(c, "id", "Job"));
    return jobPage(c, job, await jobExtras(sql, job));
  });

  for (const action of ["retry", "cancel"] as const) {
    router.post(`/jobs/:id/${action}`, async (c) => {
      const id = uuidParam(c, "id", "Job");
      try {
        const job = await actOnJob(sql, id, action);
        deps.log.info(`console: job ${action === "retry" ? "retried" : "cancelled"}`, {
          job_id: id,
          queue: job.name,
          user_id: c.get("operator").id,
          request_id: c.get("requestId"),
        });
        setFlash(c, {
          kind: "ok",
          text: action === "retry" ? `Job queued again (${job.state}).` : "Job cancelled.",
        });
      } catch (error) {
        if (!(error instanceof HttpError) || error.status !== 409) throw error;
        setFlash(c, { kind: "error", text: error.message });
      }
      return c.redirect(href(c, `/jobs/${id}`), 303);
    });
  }

  return router;
}
