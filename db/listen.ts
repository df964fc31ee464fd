/**
 * LISTEN that survives outages, on one connection per pool for every channel.
 *
 * postgres.js's `sql.listen()` re-listens after a drop only once: if the
 * server is still down at that moment the channel is forgotten, and when the
 * connection flaps during a restart it registers the same callback several
 * times over. So the listeners here own a connection (built from the pool's
 * settings) and handle its loss themselves: when it closes they listen again
 * on every channel, retrying until the server answers, and then tell each
 * listener, which catches up on what it missed meanwhile.
 *
 * Every channel a process listens to through one pool (feature flags, job
 * wake-ups, paused queues) shares that one connection, so a worker costs the
 * server one listening connection however many things it listens for.
 *
 * Behind a pooler in transaction mode (`sessionOf(sql)`), that connection goes
 * to the direct URL; without one there is no session to listen on, so each
 * listener is asked to catch up every `pollMs` instead (`onPoll`).
 *
 * @module
 */
import postgres from "postgres";
import { sessionOf, type Sql } from "./client.ts";

/** A channel being listened to; `stop()` stops it (and closes the connection after the last). */
export interface Listening {
  stop(): Promise<void>;
}

/** Options for {@link listenReliably}. */
export interface ListenOptions {
  /** Called with each notification's payload. */
  onNotify: (payload: string) => void;
  /**
   * Called after every reconnect: notifications sent while the connection
   * was down were lost, so callers catch up here (reload a cache, look for work).
   */
  onReconnect?: () => void;
  /**
   * Called every `pollMs` when there is no session to listen on (a pooler in
   * transaction mode without a direct URL): catch up, quietly. Defaults to `onReconnect`.
   */
  onPoll?: () => void;
  /** Pause between attempts while the server is unreachable, in ms (default 500). */
  retryMs?: number;
}

/** One pool's listening connection and who listens on it. */
interface Hub {
  connection: postgres.Sql;
  listeners: Map<string, Set<ListenOptions>>;
  /** Each channel's first LISTEN: a later listener waits for it before it counts as listening. */
  ready: Map<string, Promise<unknown>>;
  /** LISTENs `channel` on the connection. */
  listen(channel: string): Promise<unknown>;
  stopped: boolean;
  relistening?: Promise<void>;
}

const hubs = new WeakMap<Sql, Hub>();

function quoted(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`;
}

function hubFor(sql: Sql): Hub {
  const existing = hubs.get(sql);
  if (existing && !existing.stopped) return existing;
  const { directUrl } = sessionOf(sql);
  // Behind a pooler: the direct server, with the pool's timeouts and name, not its address.
  const target = directUrl === undefined ? sql.options : {
    connect_timeout: sql.options.connect_timeout,
    backoff: sql.options.backoff,
    connection: sql.options.connection,
  };
  const options = {
    ...target,
    max: 1,
    idle_timeout: null,
    max_lifetime: null,
    fetch_types: false,
    shared: { retries: 0, typeArrayMap: {} },
    onnotify: (name: string, payload: string) => {
      for (const listener of hub.listeners.get(name) ?? []) listener.onNotify(payload);
    },
    onclose: () => {
      if (!hub.stopped) relisten(hub);
    },
  } as unknown as postgres.Options<Record<string, never>>;
  const hub: Hub = {
    listeners: new Map(),
    ready: new Map(),
    stopped: false,
    listen: (channel) => hub.connection.unsafe(`listen ${quoted(channel)}`),
    connection: directUrl === undefined ? postgres(options) : postgres(directUrl, options),
  };
  hubs.set(sql, hub);
  return hub;
}

/** After a lost connection: LISTEN on every channel again until it works, then tell everyone. */
function relisten(hub: Hub) {
  hub.relistening ??= (async () => {
    while (!hub.stopped) {
      try {
        for (const channel of hub.listeners.keys()) await hub.listen(channel);
        if (hub.stopped) return;
        for (const set of hub.listeners.values()) {
          for (const listener of set) listener.onReconnect?.();
        }
        return;
      } catch {
        // Still down (or starting up): the next attempt follows shortly.
        const retryMs = Math.min(
          ...[...hub.listeners.values()].flatMap((set) => [...set].map((l) => l.retryMs ?? 500)),
          500,
        );
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
  })().finally(() => hub.relistening = undefined);
}

async function close(hub: Hub) {
  hub.stopped = true;
  await hub.connection.end({ timeout: 1 });
  await hub.relistening;
}

/**
 * Listens on `channel` and keeps listening across connection losses and
 * server restarts. Rejects if the first LISTEN fails.
 *
 * @example
 * ```ts
 * const listening = await listenReliably(sql, "jobs", { onNotify: wake, onReconnect: wakeAll });
 * // ...
 * await listening.stop();
 * ```
 */
export async function listenReliably(
  sql: Sql,
  channel: string,
  options: ListenOptions,
): Promise<Listening> {
  const session = sessionOf(sql);
  if (!session.lasting && session.directUrl === undefined) {
    return polling(options, session.pollMs);
  }
  const hub = hubFor(sql);
  const first = !hub.listeners.has(channel);
  const set = hub.listeners.get(channel) ?? new Set();
  hub.listeners.set(channel, set);
  set.add(options);
  const remove = async () => {
    set.delete(options);
    if (set.size > 0) return;
    hub.listeners.delete(channel);
    hub.ready.delete(channel);
    if (hub.listeners.size === 0) await close(hub);
    else await hub.connection.unsafe(`unlisten ${quoted(channel)}`).catch(() => {});
  };
  if (first) hub.ready.set(channel, hub.listen(channel));
  try {
    // Resolved only once the server listens: what is sent from then on reaches `onNotify`.
    await hub.ready.get(channel);
  } catch (error) {
    await remove();
    throw error;
  }
  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await remove();
    },
  };
}

/** No session to listen on: the listener catches up every `pollMs` instead. */
function polling(options: ListenOptions, pollMs: number): Listening {
  const catchUp = options.onPoll ?? options.onReconnect;
  const timer = catchUp === undefined ? undefined : setInterval(catchUp, pollMs);
  return {
    stop() {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
