/**
 * Schedules: each cron schedule pg-boss keeps, its time zone, its catch-up
 * policy, when it fired last and fires next, and the newest job of its queue.
 *
 * @module
 */
import { Hono } from "hono";
import { latestJob } from "../../db/jobs.ts";
import type { AppDeps } from "../../http/router.ts";
import { listQueues } from "../../services/jobs.ts";
import type { ConsoleEnv } from "../context.ts";
import { Head, href, page, When } from "../ui.tsx";

/** `/schedules`. */
export function schedulePages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/schedules", async (c) => {
    const queues = await listQueues(sql);
    const rows = await Promise.all(
      queues.flatMap((q) =>
        q.schedules.map(async (s) => ({ queue: q.name, ...s, last: await latestJob(sql, q.name) }))
      ),
    );
    return page(
      c,
      "Schedules",
      rows.length === 0
        ? <p>No schedules. Jobs declare them in code, and the scheduler registers them.</p>
        : (
          <table>
            <Head
              cols={[
                "Queue",
                "Key",
                "Cron",
                "Time zone",
                "Catch-up",
                "Last run",
                "Next run",
                "Last job",
              ]}
            />
            <tbody>
              {rows.map((r) => (
                <tr>
                  <th scope="row">{r.queue}</th>
                  <td>{r.key}</td>
                  <td>
                    <code>{r.cron}</code>
                  </td>
                  <td>{r.timezone}</td>
                  <td>{r.catch_up}</td>
                  <td>
                    {r.last_run ? <When at={r.last_run} /> : <span class="muted">none yet</span>}
                  </td>
                  <td>
                    <When at={r.next_run ?? undefined} />
                  </td>
                  <td>
                    {r.last === undefined ? <span class="muted">none yet</span> : (
                      <span>
                        <a href={href(c, `/jobs/${r.last.id}`)}>
                          <span class={`state ${r.last.state}`}>{r.last.state}</span>
                        </a>{" "}
                        <When at={r.last.created_on} />
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ),
    );
  });

  return router;
}
