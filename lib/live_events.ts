/**
 * Following Tusk's live events from a browser (or any runtime with
 * `EventSource` and `fetch`). EventSource cannot send an Authorization
 * header, so each connection uses a fresh single-use ticket; after any drop
 * the helper gets a new ticket and resumes from the last event it saw, so
 * nothing is missed and nothing comes twice.
 *
 * Self-contained (it imports nothing) so that it can be copied into a
 * frontend as it is; `console/assets/live_events.js` is this file bundled.
 *
 * @module
 */

/** One event as the stream sends it. */
export interface LiveEvent {
  /** The event id (a bigint, as a string); resume from it. */
  id: string;
  /** `insert`, `update`, `delete`, `message` (an app channel) or `reset`. */
  type: string;
  /** The parsed JSON data. */
  data: unknown;
}

/** Where the connection stands. */
export type LiveStatus = "connecting" | "open" | "reconnecting" | "closed";

/** Options for {@link followEvents}. */
export interface FollowOptions {
  /** Returns a fresh ticket (from `POST /api/v1/events/ticket`); see {@link bearerTicket}. */
  getTicket: () => Promise<string>;
  /** Every event, in order. A `reset` means: load the current state again. */
  onEvent: (event: LiveEvent) => void;
  /** Told whenever the connection's status changes. */
  onStatus?: (status: LiveStatus) => void;
  /** The stream's URL (default `/api/v1/events`). */
  url?: string;
  /** Filters: `tables`, `channels`, `row_id`. */
  query?: Record<string, string>;
  /** Resume after this id (e.g. kept in storage across page loads). */
  lastEventId?: string;
  /** First pause before reconnecting, in ms (default 1000), doubled up to `maxRetryMs`. */
  retryMs?: number;
  /** Longest pause between reconnects (default 30000). */
  maxRetryMs?: number;
}

/** A followed stream. */
export interface Following {
  /** The id of the last event received. */
  readonly lastEventId: string | undefined;
  /** Stops following (no reconnect). */
  close(): void;
}

const TYPES = ["insert", "update", "delete", "message", "reset"];

/**
 * Follows the stream: connects with a ticket, and after any error gets a new
 * ticket and resumes from the last id.
 *
 * @example
 * ```ts
 * const following = followEvents({
 *   getTicket: bearerTicket("/api/v1", () => localStorage.getItem("access_token")!),
 *   query: { tables: "items" },
 *   onEvent: (e) => console.log(e.type, e.data),
 * });
 * ```
 */
export function followEvents(options: FollowOptions): Following {
  const url = options.url ?? "/api/v1/events";
  const firstRetry = options.retryMs ?? 1000;
  const maxRetry = options.maxRetryMs ?? 30_000;
  let lastEventId = options.lastEventId;
  let source: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let retry = firstRetry;
  let closed = false;

  const status = (s: LiveStatus) => options.onStatus?.(s);

  function schedule() {
    if (closed) return;
    status("reconnecting");
    timer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, maxRetry);
  }

  async function connect() {
    if (closed) return;
    status("connecting");
    let ticket: string;
    try {
      ticket = await options.getTicket();
    } catch {
      return schedule();
    }
    if (closed) return;
    const params = new URLSearchParams({ ...options.query, ticket });
    if (lastEventId !== undefined) params.set("last_event_id", lastEventId);
    const base = typeof location === "undefined" ? undefined : location.href;
    const es = new EventSource(new URL(`${url}?${params}`, base).href);
    source = es;
    es.onopen = () => {
      retry = firstRetry;
      status("open");
    };
    for (const type of TYPES) {
      es.addEventListener(type, (event) => {
        const message = event as MessageEvent<string>;
        lastEventId = message.lastEventId;
        options.onEvent({ id: message.lastEventId, type, data: JSON.parse(message.data) });
      });
    }
    // The browser would retry with the same (used) ticket: start over with a new one instead.
    es.onerror = () => {
      es.close();
      if (source === es) schedule();
    };
  }

  void connect();
  return {
    get lastEventId() {
      return lastEventId;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
      status("closed");
    },
  };
}

/**
 * A `getTicket` for clients holding a bearer token (the FastAPI template's
 * frontends keep it in `localStorage` as `access_token`).
 *
 * @example
 * ```ts
 * followEvents({ getTicket: bearerTicket("/api/v1", () => token), onEvent });
 * ```
 */
export function bearerTicket(apiBase: string, token: () => string): () => Promise<string> {
  return async () => {
    const res = await fetch(`${apiBase}/events/ticket`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token()}` },
    });
    if (!res.ok) throw new Error(`Could not get an events ticket: ${res.status}`);
    return (await res.json()).ticket;
  };
}
