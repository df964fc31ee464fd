/**
 * Live changes: the latest audit events, then each new one as it commits,
 * through the same stream clients use (`GET /api/v1/events`), with tickets
 * issued to the console session.
 *
 * @module
 */
import { Hono } from "hono";
import { listEvents } from "../../db/history.ts";
import type { AppDeps } from "../../http/router.ts";
import { issueTicket } from "../../services/live/tickets.ts";
import { assetUrl } from "../assets.ts";
import type { ConsoleEnv } from "../context.ts";
import { Head, href, page, When } from "../ui.tsx";

// Rows shown on arrival; the script keeps at most 100 as more come.
const INITIAL_ROWS = 25;
const API_EVENTS = "/api/v1/events";

/** `/changes` and the ticket its script asks for. */
export function changesPages(deps: AppDeps): Hono<ConsoleEnv> {
  const router = new Hono<ConsoleEnv>();

  router.get("/changes", async (c) => {
    const latest = await listEvents(deps.sql, {}, { skip: 0, limit: INITIAL_ROWS, order: "desc" });
    const base = c.get("base");
    return page(
      c,
      "Live changes",
      <>
        <h1>Live changes</h1>
        <p>
          Every change to a tracked table as it commits, newest first.{" "}
          <span role="status" data-live-status="connecting">Connecting…</span>
        </p>
        <table
          aria-label="Recent changes"
          data-live-changes
          data-helper={assetUrl(base, "live_events.js")}
          data-stream={API_EVENTS}
          data-ticket={href(c, "/changes/ticket")}
          data-history={href(c, "/history")}
          data-after={latest.data[0]?.id ?? ""}
        >
          <Head cols={["Event", "At", "Table", "Change", "Row", "Changed fields"]} />
          <tbody>
            {latest.data.length === 0
              ? (
                <tr data-empty>
                  <td colspan={6} class="muted">No changes yet.</td>
                </tr>
              )
              : latest.data.map((e) => (
                <tr data-event-id={e.id}>
                  <td>
                    <a href={href(c, `/history/${e.id}`)}>{e.id}</a>
                  </td>
                  <td>
                    <When at={e.at} />
                  </td>
                  <td>{e.table}</td>
                  <td>{e.op}</td>
                  <td>
                    <a href={href(c, `/history?table=${e.table}&row_id=${e.row_id}`)}>{e.row_id}</a>
                  </td>
                  <td>{e.diff === null ? "—" : Object.keys(e.diff).join(", ")}</td>
                </tr>
              ))}
          </tbody>
        </table>
        <script type="module" src={assetUrl(base, "changes.js")}></script>
      </>,
    );
  });

  // A POST with the session's CSRF token, like every console action.
  router.post("/changes/ticket", async (c) => {
    const operator = c.get("operator");
    return c.json(await issueTicket(deps.sql, operator, deps.config.events.ticketSeconds));
  });

  return router;
}
