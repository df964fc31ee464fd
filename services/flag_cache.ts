/**
 * Feature flags, read from an in-process cache that Postgres keeps fresh:
 * every change fires a NOTIFY, each process reloads on it, and reloads again
 * whenever its LISTEN connection comes back after a drop.
 *
 * @module
 */
import type { Sql } from "../db/client.ts";
import { FLAGS_CHANNEL, listFlags } from "../db/feature_flags.ts";
import { listenReliably } from "../db/listen.ts";
import type { Logger } from "../lib/logging.ts";
import { outageLogger } from "../db/outage.ts";

/** A process's flag cache. */
export interface FlagCache {
  isEnabled(codename: string): boolean;
  /** Re-reads every flag now. */
  reload(): Promise<void>;
  /** Stops listening. */
  stop(): Promise<void>;
}

/**
 * Loads every flag and listens for changes. Resolves once the first load is
 * done, so `isEnabled()` is right from the first request.
 */
export async function startFlagCache(sql: Sql, log: Logger): Promise<FlagCache> {
  let active = new Set<string>();
  let loading: Promise<void> | undefined;
  let again = false;
  const outage = outageLogger(
    log,
    "feature flags: database unavailable; keeping the last known values",
  );

  // Reloads are serialised and coalesced: a burst of changes costs at most two reads.
  function reload(): Promise<void> {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          const flags = await listFlags(sql);
          active = new Set(flags.filter((f) => f.is_active).map((f) => f.codename));
        } catch (error) {
          if (!outage(error)) {
            log.error("feature flags could not be reloaded; keeping the last known values", {
              error,
            });
          }
        }
      } while (again);
    })().finally(() => loading = undefined);
    return loading;
  }

  const listening = await listenReliably(sql, FLAGS_CHANNEL, {
    onNotify: () => void reload(),
    // Changes made while the connection was down sent notifications nobody heard.
    onReconnect: () => {
      log.warn("feature flag listener reconnected; reloading flags");
      void reload();
    },
  });
  await reload();
  return {
    isEnabled: (codename) => active.has(codename),
    reload,
    async stop() {
      await listening.stop();
      await loading;
    },
  };
}

let bound: FlagCache | undefined;

/** Makes `cache` the one {@link isEnabled} reads in this process; returns an unbind function. */
export function bindFlagCache(cache: FlagCache): () => void {
  bound = cache;
  return () => {
    if (bound === cache) bound = undefined;
  };
}

/**
 * Whether a feature flag is on in this process. Unknown flags are off. Throws
 * in a process that started no flag cache (the API, worker and scheduler do).
 *
 * @example
 * ```ts
 * if (isEnabled("FF_NEW_CHECKOUT")) { ... }
 * ```
 */
export function isEnabled(codename: string): boolean {
  if (bound === undefined) {
    throw new Error(
      "Feature flags are not started in this process: call startServices() (every role does)",
    );
  }
  return bound.isEnabled(codename);
}
