/**
 * The live event streams of one process: opening them (a replay of what the
 * client missed, then live entries), fanning each entry out to the streams
 * that may see it, heartbeats, the per-process cap, slow readers, and
 * ending the streams of users who lost access.
 *
 * @module
 */
import type { Sql } from "../../db/client.ts";
import {
  type LogEntry,
  prunedUpTo,
  readRange,
  type ReplayFilter,
  usersStanding,
} from "../../db/live_events.ts";
import { outageLogger } from "../../db/outage.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { Logger } from "../../lib/logging.ts";
import { outsideAnyContext } from "../../lib/root_context.ts";
import { audienceOf, OWNER_COLUMN, SELF_TABLE } from "../row_access.ts";
import { sseEvent, sseHeartbeat, sseRetry } from "./sse.ts";
import { startTailer, type Tailer } from "./tailer.ts";

// Entries per replay query; the next page is read only once the client took the last one.
const REPLAY_PAGE = 500;
// What a browser waits before reconnecting after a drop (the SSE `retry` hint).
const RETRY_HINT_MS = 1000;
// Queued bytes before a stream counts as behind: Deno pulls from the queue as the socket drains.
const QUEUE_HIGH_WATER_BYTES = 16 * 1024;
// How often streams' users are looked at again: a deactivated or revoked user's stream ends
// within this, and one query covers every stream of the process.
const RECHECK_MS = 2000;

/** The user a stream is for, as when it opened. */
export interface StreamViewer {
  id: string;
  is_superuser: boolean;
  /** The version of the token (or ticket) the stream was opened with. */
  token_version: number;
}

/** What a client asked to follow. */
export interface StreamRequest {
  viewer: StreamViewer;
  /** Tracked tables to follow (`"all"`: every one), or none. */
  tables: string[] | "all";
  /** App channels to follow, already authorized. */
  channels: string[];
  /** Only changes to this row. */
  rowId?: string;
  /** The last event id the client has (`Last-Event-ID`): replay everything after it. */
  after?: number;
}

/** Options for {@link liveEvents}. */
export interface LiveEventsOptions {
  sql: Sql;
  log: Logger;
  /** How often the tail reader looks for new entries (`EVENTS_POLL_MS`). */
  pollMs: number;
  /** Seconds between heartbeat comments (`EVENTS_HEARTBEAT_SECONDS`). */
  heartbeatSeconds: number;
  /** Streams this process serves at most (`EVENTS_MAX_STREAMS`); more get a 503. */
  maxStreams: number;
  /** Bytes a stream may have queued beyond its socket before it is closed (`EVENTS_MAX_BUFFER_BYTES`). */
  maxBufferBytes: number;
  /** An entry as clients receive it: the SSE event name and its JSON data. */
  present: (entry: LogEntry) => { event: string; data: unknown };
}

/** A process's live streams. */
export interface LiveEvents {
  /** Opens a stream (503 beyond the cap); the body to send as `text/event-stream`. */
  open(request: StreamRequest): Promise<ReadableStream<Uint8Array>>;
  /** Streams open now. */
  readonly size: number;
  /** Ends every stream (clients reconnect elsewhere and resume by id) and stops reading. */
  close(): Promise<void>;
}

interface Stream {
  request: StreamRequest;
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Catching up: how far the replay has read. Live: entries up to here are skipped. */
  cursor: number;
  /** The last id the client was sent. */
  sentId: number;
  live: boolean;
  closed: boolean;
  drain?: () => void;
}

/**
 * The streams of one process, over one tail reader, started with the
 * first stream.
 *
 * @example
 * ```ts
 * const events = liveEvents({ sql, log, heartbeatSeconds: 15, maxStreams: 10_000, ... });
 * const body = await events.open({ viewer, tables: "all", channels: [] });
 * ```
 */
export function liveEvents(options: LiveEventsOptions): LiveEvents {
  const { sql, log } = options;
  const streams = new Set<Stream>();
  const supers = new Set<Stream>();
  const byUser = new Map<string, Set<Stream>>();
  const byChannel = new Map<string, Set<Stream>>();
  const frames = new WeakMap<LogEntry, Uint8Array>();
  let tailer: Promise<Tailer> | undefined;
  const outage = outageLogger(log, "live events: database unavailable; streams end and resume");
  let timers: ReturnType<typeof setInterval>[] = [];
  let closed = false;

  function frameOf(entry: LogEntry): Uint8Array {
    let frame = frames.get(entry);
    if (frame === undefined) {
      const { event, data } = options.present(entry);
      frame = sseEvent(entry.id, event, data);
      frames.set(entry, frame);
    }
    return frame;
  }

  function wantsTables(s: Stream) {
    return s.request.tables === "all" || s.request.tables.length > 0;
  }

  function add<K>(map: Map<K, Set<Stream>>, key: K, s: Stream) {
    const set = map.get(key) ?? new Set();
    set.add(s);
    map.set(key, set);
  }

  function remove<K>(map: Map<K, Set<Stream>>, key: K, s: Stream) {
    const set = map.get(key);
    set?.delete(s);
    if (set?.size === 0) map.delete(key);
  }

  function goLive(s: Stream) {
    s.live = true;
    if (wantsTables(s)) {
      if (s.request.viewer.is_superuser) supers.add(s);
      else add(byUser, s.request.viewer.id, s);
    }
    for (const channel of s.request.channels) add(byChannel, channel, s);
  }

  function end(s: Stream, reason?: string) {
    if (s.closed) return;
    s.closed = true;
    streams.delete(s);
    supers.delete(s);
    remove(byUser, s.request.viewer.id, s);
    for (const channel of s.request.channels) remove(byChannel, channel, s);
    s.drain?.();
    try {
      if (reason === undefined) s.controller.close();
      else s.controller.error(new Error(reason));
    } catch {
      // Already closed by the client.
    }
  }

  function write(s: Stream, bytes: Uint8Array, id?: number) {
    if (s.closed) return;
    s.controller.enqueue(bytes);
    if (id !== undefined) s.sentId = id;
    if ((s.controller.desiredSize ?? 0) < -options.maxBufferBytes) {
      log.warn("live events: a client read too slowly and its stream was closed", {
        user_id: s.request.viewer.id,
        queued_bytes: QUEUE_HIGH_WATER_BYTES - (s.controller.desiredSize ?? 0),
      });
      end(s, "The client read too slowly");
    }
  }

  function matches(s: Stream, entry: LogEntry & { kind: "change" }) {
    const { tables, rowId } = s.request;
    return s.live && entry.id > s.cursor &&
      (tables === "all" || tables.includes(entry.table)) &&
      (rowId === undefined || rowId === entry.row_id);
  }

  function fanOut(entries: LogEntry[]) {
    for (const entry of entries) {
      if (entry.kind === "message") {
        for (const s of byChannel.get(entry.channel) ?? []) {
          if (s.live && entry.id > s.cursor) write(s, frameOf(entry), entry.id);
        }
        continue;
      }
      for (const s of supers) if (matches(s, entry)) write(s, frameOf(entry), entry.id);
      for (const id of audienceOf(entry)) {
        for (const s of byUser.get(id) ?? []) {
          if (matches(s, entry)) write(s, frameOf(entry), entry.id);
        }
      }
    }
  }

  function filterOf(s: Stream): ReplayFilter {
    const { viewer, tables, channels, rowId } = s.request;
    return {
      tables,
      channels,
      rowId,
      visibleTo: viewer.is_superuser
        ? undefined
        : { viewerId: viewer.id, selfTable: SELF_TABLE, ownerColumn: OWNER_COLUMN },
    };
  }

  async function drained(s: Stream) {
    if ((s.controller.desiredSize ?? 1) > 0 || s.closed) return;
    await new Promise<void>((resolve) => s.drain = resolve);
  }

  /** Replays what the client missed, page by page, then joins the live fan-out. */
  async function catchUp(s: Stream, reader: Tailer) {
    await reader.ready;
    if (s.closed) return;
    const { after, channels } = s.request;
    // A new client starts where the log stood when it connected (`cursor`, set by open()), not
    // where it stands now: what committed while the reader got ready is still its to see.
    if (after !== undefined) {
      s.cursor = after;
      const pruned = await prunedUpTo(sql);
      if (
        (wantsTables(s) && after < pruned.history) ||
        (channels.length > 0 && after < pruned.messages)
      ) {
        const mark = reader.mark;
        write(
          s,
          sseEvent(mark, "reset", {
            reason: "Events after your last event id were deleted by retention: " +
              "load the current state again, then follow from here",
            last_event_id: String(mark),
          }),
          mark,
        );
        s.cursor = mark;
      }
    }
    for (;;) {
      if (s.closed) return;
      const upTo = reader.mark;
      // No await between this check and joining: the next batch starts right after `upTo`.
      if (s.cursor >= upTo) return goLive(s);
      const page = await readRange(sql, { after: s.cursor, upTo, limit: REPLAY_PAGE }, filterOf(s));
      for (const entry of page) write(s, frameOf(entry), entry.id);
      s.cursor = page.length < REPLAY_PAGE ? upTo : page.at(-1)!.id;
      await drained(s);
    }
  }

  /** A comment on every stream; on a live one also the reader's `mark`, if it moved on. */
  function heartbeat(mark: number) {
    for (const s of streams) {
      const moved = s.live && mark > s.sentId && mark > s.cursor;
      write(s, sseHeartbeat(moved ? mark : undefined), moved ? mark : undefined);
    }
  }

  async function recheck() {
    if (streams.size === 0) return;
    const ids = [...new Set([...streams].map((s) => s.request.viewer.id))];
    let rows;
    try {
      rows = new Map((await usersStanding(sql, ids)).map((u) => [u.id, u]));
    } catch {
      return; // The database is away; the next round looks again.
    }
    for (const s of streams) {
      const v = s.request.viewer;
      const now = rows.get(v.id);
      if (
        now === undefined || !now.is_active || now.token_version !== v.token_version ||
        now.is_superuser !== v.is_superuser
      ) end(s);
    }
  }

  function startReading(): Promise<Tailer> {
    tailer ??= outsideAnyContext(async () => {
      const reader = await startTailer(sql, { log, pollMs: options.pollMs, onEntries: fanOut });
      timers = [
        setInterval(() => heartbeat(reader.mark), options.heartbeatSeconds * 1000),
        setInterval(() => void recheck(), RECHECK_MS),
      ];
      return reader;
    });
    tailer.catch(() => tailer = undefined);
    return tailer;
  }

  return {
    get size() {
      return streams.size;
    },
    async open(request) {
      if (closed) throw new HttpError(503, "The server is shutting down; reconnect shortly");
      if (streams.size >= options.maxStreams) {
        throw new HttpError(503, "Too many event streams on this server; try again shortly", {
          "Retry-After": "5",
        });
      }
      const reader = await startReading();
      const from = request.after ?? reader.mark;
      const s = {
        request,
        cursor: from,
        sentId: from,
        live: false,
        closed: false,
      } as Stream;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          s.controller = controller;
        },
        pull() {
          s.drain?.();
          s.drain = undefined;
        },
        cancel() {
          end(s);
        },
      }, { highWaterMark: QUEUE_HIGH_WATER_BYTES, size: (chunk) => chunk.byteLength });
      streams.add(s);
      write(s, sseRetry(RETRY_HINT_MS));
      outsideAnyContext(() =>
        catchUp(s, reader).catch((error) => {
          if (!s.closed && !outage(error)) {
            log.warn("live events: a stream ended early", { error: String(error) });
          }
          end(s);
        })
      );
      return body;
    },
    async close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      for (const s of [...streams]) end(s);
      const reader = await tailer?.catch(() => undefined);
      await reader?.stop();
    },
  };
}
