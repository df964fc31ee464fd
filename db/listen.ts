/**
 * LISTEN that survives outages, on a connection of its own.
 *
 * postgres.js's `sql.listen()` re-listens after a drop only once: if the
 * server is still down at that moment the channel is forgotten, and when the
 * connection flaps during a restart it registers the same callback several
 * times over. So each listener here owns one connection (built from the
 * pool's settings) and handles its loss itself: when that connection closes
 * it listens again, retrying until the server answers, and then tells the
 * caller, who catches up on what it missed meanwhile.
 *
 * @module
 */
import postgres from "postgres";
import type { Sql } from "./client.ts";

/** A channel being listened to; `stop()` closes its connection. */
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
  /** Pause between attempts while the server is unreachable, in ms (default 500). */
  retryMs?: number;
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
  let stopped = false;
  let relistening: Promise<void> | undefined;
  const connection = postgres({
    ...sql.options,
    max: 1,
    idle_timeout: null,
    max_lifetime: null,
    fetch_types: false,
    shared: { retries: 0, typeArrayMap: {} },
    onnotify: (name: string, payload: string) => {
      if (name === channel) options.onNotify(payload);
    },
    onclose: () => {
      if (!stopped) relisten();
    },
  } as unknown as postgres.Options<Record<string, never>>);
  const listen = () => connection.unsafe(`listen "${channel.replaceAll('"', '""')}"`);

  function relisten() {
    relistening ??= (async () => {
      while (!stopped) {
        try {
          await listen();
          if (!stopped) options.onReconnect?.();
          return;
        } catch {
          // Still down (or starting up): the next attempt follows shortly.
          await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 500));
        }
      }
    })().finally(() => relistening = undefined);
  }

  try {
    await listen();
  } catch (error) {
    stopped = true;
    await connection.end({ timeout: 0 });
    throw error;
  }
  return {
    async stop() {
      stopped = true;
      await connection.end({ timeout: 1 });
      await relistening;
    },
  };
}
