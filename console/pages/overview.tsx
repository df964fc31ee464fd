/**
 * The overview: every queue's numbers, the schedules' next runs, migration
 * status and the database's health, refreshed every few seconds by htmx
 * (a plain reload does the same without JavaScript).
 *
 * @module
 */
import { Hono } from "hono";
import { ping } from "../../db/client.ts";
import { queueInfo, recentlyFinished } from "../../db/jobs.ts";
import { inspectMigrations } from "../../db/migrate/mod.ts";
import type { AppDeps } from "../../http/router.ts";
import { nextRun } from "../../services/jobs.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { duration, Head, href, page, When } from "../ui.tsx";

// Often enough to watch a queue drain; rare enough to cost the database nothing.
const REFRESH_SECONDS = 5;

async function liveSection(c: ConsoleContext, deps: AppDeps) {
  const { sql } = deps;
  const started = performance.now();
  await ping(sql);
  const pingMs = performance.now() - started;
  const [queues, finished, migrations] = await Promise.all([
    queueInfo(sql),
    recentlyFinished(sql),
    inspectMigrations(sql, deps.migrations),
  ]);
  const applied = migrations.filter((m) => m.state === "applied").length;
  const troubled = migrations.filter((m) => m.state !== "applied");
  const schedules = queues.flatMap((q) => q.schedules.map((s) => ({ queue: q.name, ...s })));
  return (
    <section
      id="live"
      hx-get={href(c, "/overview/live")}
      hx-trigger={`every ${REFRESH_SECONDS}s`}
      hx-swap="outerHTML"
      aria-live="polite"
    >
      <p class="muted">
        Updated <When at={new Date()} />; refreshes every {REFRESH_SECONDS} s.
      </p>
      <div class="cards">
        <div class="card">
          <h2>Database</h2>
          <p class="big ok">Reachable</p>
          <p>Answered in {pingMs.toFixed(1)} ms</p>
        </div>
        <div class="card">
          <h2>Migrations</h2>
          <p class={troubled.length === 0 ? "big ok" : "big warn"}>
            {troubled.length === 0 ? "Up to date" : `${troubled.length} need attention`}
          </p>
          <p>
            {applied} applied; <a href={href(c, "/migrations")}>details</a>
          </p>
        </div>
      </div>
      <h2>Queues</h2>
      <table>
        <Head
          cols={[
            "Queue",
            ["Waiting", "num"],
            ["Active", "num"],
            ["Failed", "num"],
            ["Completed, last hour", "num"],
            ["Failed, last hour", "num"],
            "Oldest waiting",
          ]}
        />
        <tbody>
          {queues.map((q) => (
            <tr>
              <th scope="row">
                <a href={href(c, `/jobs?queue=${encodeURIComponent(q.name)}`)}>{q.name}</a>
              </th>
              <td class="num">{q.counts.created + q.counts.retry}</td>
              <td class="num">{q.counts.active}</td>
              <td class="num">
                {q.counts.failed > 0
                  ? (
                    <a href={href(c, `/jobs?queue=${encodeURIComponent(q.name)}&state=failed`)}>
                      {q.counts.failed}
                    </a>
                  )
                  : 0}
              </td>
              <td class="num">{finished.get(q.name)?.completed ?? 0}</td>
              <td class="num">{finished.get(q.name)?.failed ?? 0}</td>
              <td>
                {q.oldest_waiting_seconds === null ? "—" : duration(q.oldest_waiting_seconds)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Schedules</h2>
      {schedules.length === 0 ? <p>No schedules.</p> : (
        <table>
          <Head cols={["Queue", "Cron", "Time zone", "Next run"]} />
          <tbody>
            {schedules.map((s) => (
              <tr>
                <th scope="row">{s.queue}</th>
                <td>
                  <code>{s.cron}</code>
                </td>
                <td>{s.timezone}</td>
                <td>
                  <When at={nextRun(s.cron, s.timezone)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** `/` (the overview) and its live part, `/overview/live`. */
export function overviewPages(deps: AppDeps): Hono<ConsoleEnv> {
  const router = new Hono<ConsoleEnv>();
  router.get("/", async (c) => page(c, "Overview", await liveSection(c, deps)));
  router.get("/overview/live", async (c) => c.html(await liveSection(c, deps)));
  return router;
}
