/**
 * Feature flags, read from an in-process cache that Postgres keeps fresh:
 * every change fires a NOTIFY, each process reloads on it, and reloads again
 * whenever its LISTEN connection comes back after a drop. Evaluations are
 * synchronous, from memory; which flags were evaluated is written back about
 * once a minute, for stale-flag detection.
 *
 * @module
 */
import type { Sql } from "../db/client.ts";
import { FLAGS_CHANNEL, listFlags, recordEvaluations } from "../db/feature_flags.ts";
import { listenReliably } from "../db/listen.ts";
import type { Logger } from "../lib/logging.ts";
import { outageLogger } from "../db/outage.ts";
import { evaluateFlag, type Evaluation, type FlagDefinition, type Subject } from "./flag_rules.ts";
import { definitionOf } from "./flags.ts";

// Evaluations are noted in memory and written at most this often: "last evaluated" only needs
// to be right to the day, and a write per evaluation would cost more than the evaluation.
const USAGE_FLUSH_MS = 60_000;

/** A process's flag cache. */
export interface FlagCache {
  isEnabled(codename: string, subject?: Subject): boolean;
  evaluate(codename: string, subject?: Subject): Evaluation;
  /** Every flag as loaded, by codename. */
  definitions(): ReadonlyMap<string, FlagDefinition & { client_visible: boolean }>;
  /** Re-reads every flag now. */
  reload(): Promise<void>;
  /** Writes which flags were evaluated since the last write. */
  flushUsage(): Promise<void>;
  /** Stops listening (and writes the last usage). */
  stop(): Promise<void>;
}

/**
 * Loads every flag and listens for changes. Resolves once the first load is
 * done, so `isEnabled()` is right from the first request.
 */
export async function startFlagCache(sql: Sql, log: Logger): Promise<FlagCache> {
  let flags = new Map<string, FlagDefinition & { client_visible: boolean }>();
  let used = new Set<string>();
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
          const rows = await listFlags(sql);
          flags = new Map(rows.map((f) => [f.codename, definitionOf(f)]));
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
    // Behind a pooler without a direct URL: reload every POOLER_POLL_MS instead.
    onPoll: () => void reload(),
  });
  await reload();

  async function flushUsage(): Promise<void> {
    if (used.size === 0) return;
    const codenames = [...used];
    used = new Set();
    try {
      await recordEvaluations(sql, codenames);
    } catch (error) {
      for (const codename of codenames) used.add(codename);
      if (!outage(error)) log.warn("feature flags: could not record evaluations", { error });
    }
  }
  const flushing = setInterval(() => void flushUsage(), USAGE_FLUSH_MS);

  function evaluate(codename: string, subject?: Subject): Evaluation {
    const flag = flags.get(codename);
    if (flag === undefined) return { reason: "ERROR", error: "FLAG_NOT_FOUND" };
    used.add(codename);
    return evaluateFlag(flag, subject);
  }

  return {
    isEnabled: (codename, subject) => evaluate(codename, subject).value === true,
    evaluate,
    definitions: () => flags,
    reload,
    flushUsage,
    async stop() {
      clearInterval(flushing);
      await listening.stop();
      await loading;
      await flushUsage();
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

/** The flag cache this process started (for the OFREP routes); throws when there is none. */
export function currentFlagCache(): FlagCache {
  if (bound === undefined) {
    throw new Error(
      "Feature flags are not started in this process: call startServices() (every role does)",
    );
  }
  return bound;
}

/**
 * Whether a feature flag's value is `true` for the subject (for everyone, if
 * none is given). Unknown flags are off. Throws in a process that started no
 * flag cache (the API, worker and scheduler do).
 *
 * @example
 * ```ts
 * if (isEnabled("FF_NEW_CHECKOUT", userSubject(user))) { ... }
 * ```
 */
export function isEnabled(codename: string, subject?: Subject): boolean {
  return currentFlagCache().isEnabled(codename, subject);
}

/**
 * The variant a flag serves the subject: `{value, variant, reason}` (no value
 * for an unknown flag or an error: use your default then).
 *
 * @example
 * ```ts
 * const { value } = variant("checkout-button", userSubject(user));
 * const color = typeof value === "string" ? value : "blue";
 * ```
 */
export function variant(codename: string, subject?: Subject): Evaluation {
  return currentFlagCache().evaluate(codename, subject);
}
