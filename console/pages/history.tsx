/**
 * Audit history: events filtered by table, row, user, request or job; one
 * event with its context and a readable diff; revert, with the API's 409
 * when the row has changed since, and the choice to force it.
 *
 * @module
 */
import { Hono } from "hono";
import type { Child } from "hono/jsx";
import { getEvent, type HistoryEvent, listEvents } from "../../db/history.ts";
import { emailsByIds } from "../../db/users.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { AppDeps } from "../../http/router.ts";
import { revertEvent, unknownHistoryTable } from "../../services/history.ts";
import { formFields, isUuid, pageParam, textParam } from "../params.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { setFlash } from "../session.ts";
import { Confirm, Csrf, Head, href, Json, page, PAGE_SIZE, Pager, When } from "../ui.tsx";

const FILTERS = ["table", "row_id", "user_id", "request_id", "job_id", "label"] as const;
const FILTER_LABELS: Record<(typeof FILTERS)[number], string> = {
  table: "Table",
  row_id: "Row id",
  user_id: "User id",
  request_id: "Request id",
  job_id: "Job id",
  label: "Label",
};
const EVENT_ID = /^[1-9][0-9]{0,17}$/;

/** A value in a diff or context cell: strings as they are, the rest as JSON. */
function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

const Who = (
  { c, event, emails }: { c: ConsoleContext; event: HistoryEvent; emails: Map<string, string> },
) => {
  const id = event.context?.user_id;
  if (typeof id !== "string") {
    const command = event.context?.command;
    return <span class="muted">{typeof command === "string" ? `cli: ${command}` : "—"}</span>;
  }
  return <a href={href(c, `/users/${id}`)}>{emails.get(id) ?? id}</a>;
};

function eventPage(
  c: ConsoleContext,
  event: HistoryEvent,
  emails: Map<string, string>,
  refusal?: string,
) {
  const context = event.context ?? {};
  const diff = event.diff;
  let body: Child;
  if (diff !== null && Object.keys(diff).length > 0) {
    body = (
      <table>
        <caption>Changed fields</caption>
        <Head cols={["Field", "Before", "After"]} />
        <tbody>
          {Object.entries(diff).map(([field, [before, after]]) => (
            <tr>
              <th scope="row">{field}</th>
              <td class="old">{show(before)}</td>
              <td class="new">{show(after)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  } else {
    body = (
      <div>
        <h3>{event.op === "delete" ? "The row before it was deleted" : "The row"}</h3>
        <Json value={event.data} label="Row data" />
      </div>
    );
  }
  const action = href(c, `/history/${event.id}/revert`);
  return page(
    c,
    "Audit history",
    <div>
      <p>
        <a href={href(c, "/history")}>All events</a> ›{" "}
        <a
          href={href(c, `/history?table=${event.table}&row_id=${encodeURIComponent(event.row_id)}`)}
        >
          {event.table} {event.row_id}
        </a>{" "}
        › event {event.id}
      </p>
      <h2>
        {event.label} <span class={`state ${event.op}`}>{event.op}</span>
      </h2>
      {refusal !== undefined && (
        <div class="flash error" role="alert">
          <p>Not reverted: {refusal}.</p>
          <form method="post" action={action}>
            <Csrf c={c} />
            <input type="hidden" name="force" value="true" />
            <button type="submit" class="danger">Revert anyway, over the newer changes</button>
          </form>
        </div>
      )}
      <dl class="facts">
        <dt>When</dt>
        <dd>
          <When at={event.at} />
        </dd>
        <dt>By</dt>
        <dd>
          <Who c={c} event={event} emails={emails} />
        </dd>
        <dt>Database role</dt>
        <dd>
          {event.db_user}
          {event.application_name ? ` (${event.application_name})` : ""}
        </dd>
      </dl>
      {body}
      <h3>Context</h3>
      {event.context === null
        ? <p>Made outside any request, job or command (e.g. psql).</p>
        : (
          <table>
            <tbody>
              {Object.entries(context).map(([k, v]) => (
                <tr>
                  <th scope="row">{k}</th>
                  <td>
                    <code>{show(v)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      <div class="actions">
        <Confirm c={c} action={action} label="Revert" confirm="Yes, revert this change" danger>
          {event.op === "insert"
            ? "The row is deleted again."
            : event.op === "delete"
            ? "The row is put back as it was."
            : "The changed fields get their old values back."}{" "}
          If the row has changed since, nothing happens and you are asked again.
        </Confirm>
      </div>
    </div>,
    refusal === undefined ? {} : { status: 409 },
  );
}

async function emailsOf(deps: AppDeps, events: HistoryEvent[]) {
  const ids = events.map((e) => e.context?.user_id).filter((id): id is string =>
    typeof id === "string" && isUuid(id)
  );
  return await emailsByIds(deps.sql, [...new Set(ids)]);
}

/** `/history`, `/history/:id` and revert. */
export function historyPages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/history", async (c) => {
    const filters: Partial<Record<(typeof FILTERS)[number], string>> = {};
    for (const name of FILTERS) filters[name] = textParam(c, name);
    for (const name of ["user_id", "job_id"] as const) {
      const value = filters[name];
      if (value !== undefined && !isUuid(value)) throw new HttpError(400, `${name} must be a UUID`);
    }
    if (filters.table !== undefined) {
      const tracked = await unknownHistoryTable(sql, filters.table);
      if (tracked !== undefined) {
        throw new HttpError(400, `table must be a tracked table: ${tracked.join(", ")}`);
      }
    }
    const current = pageParam(c);
    const events = await listEvents(sql, filters, {
      skip: (current - 1) * PAGE_SIZE,
      limit: PAGE_SIZE,
      order: "desc",
    });
    const emails = await emailsOf(deps, events.data);
    return page(
      c,
      "Audit history",
      <div>
        <form method="get" action={href(c, "/history")} class="filters" role="search">
          {FILTERS.map((name) => (
            <span>
              <label for={`f-${name}`}>{FILTER_LABELS[name]}</label>
              <input id={`f-${name}`} name={name} value={filters[name]} maxlength={255} />
            </span>
          ))}
          <button type="submit">Filter</button>
        </form>
        {events.count === 0 ? <p>No events match.</p> : (
          <table>
            <Head cols={["Event", "When", "Change", "Row", "By", "Changed fields"]} />
            <tbody>
              {events.data.map((e) => (
                <tr>
                  <th scope="row">
                    <a href={href(c, `/history/${e.id}`)}>{e.id}</a>
                  </th>
                  <td>
                    <When at={e.at} />
                  </td>
                  <td>
                    {e.label} <span class={`state ${e.op}`}>{e.op}</span>
                  </td>
                  <td>
                    {e.table} <code>{e.row_id}</code>
                  </td>
                  <td>
                    <Who c={c} event={e} emails={emails} />
                  </td>
                  <td>{e.diff ? Object.keys(e.diff).join(", ") : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager base={href(c, "/history")} query={filters} page={current} count={events.count} />
      </div>,
    );
  });

  router.get("/history/:id", async (c) => {
    const id = c.req.param("id");
    const event = EVENT_ID.test(id) ? await getEvent(sql, id) : undefined;
    if (event === undefined) throw new HttpError(404, "History event not found");
    return eventPage(c, event, await emailsOf(deps, [event]));
  });

  router.post("/history/:id/revert", async (c) => {
    const id = c.req.param("id");
    if (!EVENT_ID.test(id)) throw new HttpError(404, "History event not found");
    const force = (await formFields(c)).force === "true";
    try {
      const made = await revertEvent(sql, id, { force });
      setFlash(c, { kind: "ok", text: `Reverted event ${id}; this is the revert.` });
      return c.redirect(href(c, `/history/${made.id}`), 303);
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 409) throw error;
      const event = await getEvent(sql, id);
      if (event === undefined) throw error;
      return eventPage(c, event, await emailsOf(deps, [event]), error.message);
    }
  });

  return router;
}
