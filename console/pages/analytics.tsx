/**
 * Analytics: the template's two reports as tables, items per day as an SVG
 * chart drawn here on the server, when the export ran, and a button to run
 * one now (the same job `POST /analytics/export` queues).
 *
 * @module
 */
import { Hono } from "hono";
import type { Child } from "hono/jsx";
import { AnalyticsUnavailableError } from "../../analytics/duckdb.ts";
import { NoExportError, ReportFailedError } from "../../analytics/reports.ts";
import type { ItemsOnDay } from "../../analytics/reports.ts";
import { exportRunning } from "../../db/analytics.ts";
import { requestExport } from "../../jobs/export_analytics.ts";
import type { AppDeps } from "../../http/router.ts";
import type { ConsoleEnv } from "../context.ts";
import { setFlash } from "../session.ts";
import { Confirm, Head, href, page, When } from "../ui.tsx";

const CHART_DAYS = 30;
const WIDTH = 720;
const HEIGHT = 200;
const PAD = { left: 40, right: 12, bottom: 24, top: 12 };

/** Items per day as bars, with the largest value and the first and last day labelled. */
export function ItemsChart({ days }: { days: ItemsOnDay[] }) {
  const max = Math.max(1, ...days.map((d) => d.item_count));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const bar = plotW / Math.max(1, days.length);
  const total = days.reduce((n, d) => n + d.item_count, 0);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-labelledby="chart-title"
    >
      <title id="chart-title">
        Items created per day, {days[0]?.day} to {days.at(-1)?.day}: {total} in all, at most {max}
        {" "}
        in a day
      </title>
      <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + plotH} class="axis" />
      <line
        x1={PAD.left}
        y1={PAD.top + plotH}
        x2={WIDTH - PAD.right}
        y2={PAD.top + plotH}
        class="axis"
      />
      <text x={PAD.left - 6} y={PAD.top + 10} text-anchor="end">{max}</text>
      <text x={PAD.left - 6} y={PAD.top + plotH} text-anchor="end">0</text>
      {days.map((d, i) => {
        const h = (d.item_count / max) * plotH;
        return (
          <rect
            x={PAD.left + i * bar + 1}
            y={PAD.top + plotH - h}
            width={Math.max(1, bar - 2)}
            height={h}
            class="bar"
          >
            <title>{d.day}: {d.item_count}</title>
          </rect>
        );
      })}
      <text x={PAD.left} y={HEIGHT - 6}>{days[0]?.day}</text>
      <text x={WIDTH - PAD.right} y={HEIGHT - 6} text-anchor="end">{days.at(-1)?.day}</text>
    </svg>
  );
}

/** A report, or the reason there is none (no export yet; an unreadable one). */
async function reportOr<T>(run: () => Promise<T>, show: (value: T) => Child): Promise<Child> {
  try {
    return show(await run());
  } catch (error) {
    if (
      error instanceof NoExportError || error instanceof ReportFailedError ||
      error instanceof AnalyticsUnavailableError
    ) {
      return <p class="flash error">{error.message}</p>;
    }
    throw error;
  }
}

/** `/analytics` and running an export. */
export function analyticsPages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql, analytics } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/analytics", async (c) => {
    const [generation, running] = await Promise.all([
      analytics.current().catch(() => undefined),
      exportRunning(sql),
    ]);
    const m = generation?.manifest;
    const reports = m === undefined ? <p>No export yet: run one below.</p> : (
      <div>
        <h2>Items per day, last {CHART_DAYS} days of the export</h2>
        {await reportOr(
          () => analytics.itemsPerDay(CHART_DAYS),
          (days) => <ItemsChart days={days} />,
        )}
        <h2>Items by user</h2>
        {await reportOr(() => analytics.itemsByUser(), (rows) => (
          rows.length === 0 ? <p>No items.</p> : (
            <table>
              <Head cols={["Email", ["Items", "num"]]} />
              <tbody>
                {rows.slice(0, 100).map((r) => (
                  <tr>
                    <th scope="row">{r.email}</th>
                    <td class="num">{r.item_count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        ))}
        <h2>Most active users</h2>
        {await reportOr(() => analytics.activeUsers(), (rows) => (
          rows.length === 0 ? <p>No items.</p> : (
            <table>
              <Head cols={["Email", "Name", ["Items", "num"]]} />
              <tbody>
                {rows.map((r) => (
                  <tr>
                    <th scope="row">
                      <a href={href(c, `/users/${r.user_id}`)}>{r.email}</a>
                    </th>
                    <td>{r.full_name ?? ""}</td>
                    <td class="num">{r.item_count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        ))}
      </div>
    );
    return page(
      c,
      "Analytics",
      <div>
        <dl class="facts">
          <dt>Snapshot taken</dt>
          <dd>
            <When at={m?.exported_at} />
          </dd>
          <dt>Export took</dt>
          <dd>{m?.duration_seconds === undefined ? "—" : `${m.duration_seconds.toFixed(2)} s`}</dd>
          <dt>Rows</dt>
          <dd>
            {m === undefined ? "—" : `${m.tables.users.rows} users, ${m.tables.items.rows} items`}
          </dd>
          <dt>Export running now</dt>
          <dd>{running ? "yes" : "no"}</dd>
        </dl>
        <Confirm
          c={c}
          action={href(c, "/analytics/export")}
          label="Run an export now"
          confirm="Yes, export now"
        >
          The worker exports users and items to Parquet from one snapshot; these reports then read
          it. One waiting or running export is reused.
        </Confirm>
        {reports}
      </div>,
    );
  });

  router.post("/analytics/export", async (c) => {
    const id = await requestExport(sql);
    setFlash(c, { kind: "ok", text: `Export queued as job ${id}.` });
    return c.redirect(href(c, "/analytics"), 303);
  });

  return router;
}
