/**
 * Live events over Server-Sent Events: `GET /events` streams changes to
 * tracked tables (and app channel messages) that the reader may see,
 * replaying from `Last-Event-ID`; `POST /events/ticket` lets a browser's
 * EventSource, which cannot send headers, authenticate.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type LogEntry, logTop } from "../db/live_events.ts";
import type { User } from "../db/users.ts";
import { currentUser } from "../http/current_user.ts";
import { idempotent } from "../http/idempotency.ts";
import { type AppDeps, type AppEnv, newRouter } from "../http/router.ts";
import { RequestValidationError } from "../http/validation.ts";
import { unknownHistoryTables } from "../services/history.ts";
import { CHANNEL_MAX_LENGTH, CHANNEL_PATTERN, refusedChannels } from "../services/live/channels.ts";
import { type LiveEvents, liveEvents } from "../services/live/hub.ts";
import { issueTicket, redeemTicket } from "../services/live/tickets.ts";
import type { Config } from "../config.ts";
import type { Sql } from "../db/client.ts";
import type { Logger } from "../lib/logging.ts";
import { BEARER, HttpErrorBody, ItemPublic, json, UserPublic } from "./schemas.ts";

const EventId = z.string().regex(/^(0|[1-9][0-9]{0,15})$/, "Expected an event id (digits)");

const EventsQuery = z.object({
  tables: z.string().max(2000).regex(/^[A-Za-z0-9_.]+(,[A-Za-z0-9_.]+)*$/, {
    error: "Expected tracked table names separated by commas",
  }).optional().openapi({ example: "items,users" }),
  channels: z.string().max(4000).optional().openapi({ example: "user:0f8c…" }),
  row_id: z.string().min(1).max(255).optional(),
  ticket: z.string().min(1).max(200).optional(),
  last_event_id: EventId.optional().openapi({
    description: "As the Last-Event-ID header (which wins when both are sent)",
  }),
});

const EventsHeaders = z.object({ "last-event-id": EventId.optional() });

const Ticket = z.object({ ticket: z.string(), expires_in: z.number().int() }).openapi(
  "EventsTicket",
);

/** Public fields of the tables the REST API shows; other tracked tables go as recorded. */
const PUBLIC_FIELDS: Record<string, string[]> = {
  users: Object.keys(UserPublic.shape),
  items: Object.keys(ItemPublic.shape),
};

/** A row as the REST API shows it: its public fields, timestamps as `toISOString()` writes them. */
function publicRow(table: string, data: Record<string, unknown>): Record<string, unknown> {
  const fields = PUBLIC_FIELDS[table];
  if (fields === undefined) return data;
  return Object.fromEntries(fields.map((f) => {
    const value = data[f] ?? null;
    return [
      f,
      f.endsWith("_at") && typeof value === "string" ? new Date(value).toISOString() : value,
    ];
  }));
}

/** An entry of the log as a client receives it: the SSE event name and its data. */
export function presentEntry(entry: LogEntry): { event: string; data: unknown } {
  if (entry.kind === "message") {
    return {
      event: "message",
      data: { channel: entry.channel, payload: entry.payload, at: entry.at.toISOString() },
    };
  }
  const row = publicRow(entry.table, entry.data);
  return {
    event: entry.op,
    data: {
      table: entry.table,
      row_id: entry.row_id,
      op: entry.op,
      row,
      changed: entry.diff === null ? null : Object.keys(entry.diff).filter((f) => f in row),
      at: entry.at.toISOString(),
    },
  };
}

/**
 * The process's live streams, configured from `config.events`, presenting
 * entries as the REST API shows rows. Close it before the server drains.
 *
 * @example
 * ```ts
 * const events = createLiveEvents({ config, sql, log });
 * const app = createApp({ ...deps, events });
 * ```
 */
export function createLiveEvents(deps: { config: Config; sql: Sql; log: Logger }): LiveEvents {
  return liveEvents({ sql: deps.sql, log: deps.log, ...deps.config.events, present: presentEntry });
}

function invalid(loc: [string, string], msg: string, input: unknown): never {
  throw new RequestValidationError([{ type: "value_error", loc, msg, input }]);
}

/** `/events/*`. */
export function eventRoutes(deps: AppDeps) {
  const { sql, config } = deps;
  const router = newRouter();
  const bearer = currentUser(deps);

  /** The reader: the ticket's user, or the bearer token's. */
  async function reader(c: Context<AppEnv>, ticket: string | undefined): Promise<User> {
    if (ticket !== undefined) return await redeemTicket(sql, ticket);
    await bearer(c, () => Promise.resolve());
    return c.get("user");
  }

  router.openapi(
    createRoute({
      method: "get",
      path: "/events",
      tags: ["events"],
      operationId: "events-stream",
      summary: "A live stream of changes you may see, replayed from Last-Event-ID",
      description: "Server-Sent Events. Each event's `id` is the history event id; `event` is " +
        "`insert`, `update`, `delete`, `message` (app channels) or `reset` (the last id you " +
        "had is older than retention). Authenticate with a bearer token or `?ticket=`.",
      security: BEARER,
      request: { query: EventsQuery, headers: EventsHeaders },
      responses: {
        200: {
          description: "The stream",
          content: { "text/event-stream": { schema: z.string() } },
        },
        403: json(HttpErrorBody, "Bad ticket or credentials"),
        422: json(HttpErrorBody, "Bad filters or Last-Event-ID"),
        503: json(HttpErrorBody, "Too many streams on this server"),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const afterText = c.req.valid("header")["last-event-id"] ?? query.last_event_id;
      const channels = query.channels === undefined ? [] : query.channels.split(",");
      for (const channel of channels) {
        if (!CHANNEL_PATTERN.test(channel) || channel.length > CHANNEL_MAX_LENGTH) {
          invalid(["query", "channels"], "Expected channels named kind:key", channel);
        }
      }
      const user = await reader(c, query.ticket);
      const tables = query.tables === undefined
        ? (channels.length > 0 ? [] : "all" as const)
        : [...new Set(query.tables.split(","))];
      const unknown = tables === "all" || tables.length === 0
        ? undefined
        : await unknownHistoryTables(sql, tables);
      if (unknown !== undefined) {
        invalid(
          ["query", "tables"],
          `Input should be a tracked table: ${unknown.tracked.join(", ")}`,
          unknown.table,
        );
      }
      const [refused] = await refusedChannels(sql, user, channels);
      if (refused !== undefined) {
        invalid(
          ["query", "channels"],
          refused.reason === "unknown kind"
            ? "No such kind of channel"
            : "You may not follow this channel",
          refused.channel,
        );
      }
      const after = afterText === undefined ? undefined : Number(afterText);
      if (after !== undefined && after > await logTop(sql)) {
        const loc: [string, string] = c.req.header("last-event-id") === undefined
          ? ["query", "last_event_id"]
          : ["header", "last-event-id"];
        invalid(
          loc,
          "Last-Event-ID is ahead of the event log (an id from another database?)",
          afterText,
        );
      }
      const body = await deps.events.open({
        // Only what the stream needs to decide, kept as long as it is open.
        viewer: { id: user.id, is_superuser: user.is_superuser, token_version: user.token_version },
        tables,
        channels,
        rowId: query.row_id,
        after,
      });
      return new Response(body, {
        headers: {
          "Content-Type": "text/event-stream; charset=utf-8",
          "Cache-Control": "no-cache, no-store",
          // Proxies that buffer (nginx) would hold events back.
          "X-Accel-Buffering": "no",
        },
      });
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/events/ticket",
      tags: ["events"],
      operationId: "events-ticket",
      summary: "A short-lived, single-use ticket for GET /events?ticket= (EventSource)",
      // A ticket is a credential: marked no-store, so an Idempotency-Key never replays one.
      middleware: [bearer, idempotent(deps)],
      security: BEARER,
      responses: { 200: json(Ticket, "The ticket and its lifetime in seconds") },
    }),
    async (c) => {
      const ticket = await issueTicket(sql, c.get("user"), config.events.ticketSeconds);
      return c.json(ticket, 200, { "Cache-Control": "no-store" });
    },
  );

  return router;
}
