/**
 * Awaiting jobs: one LISTEN on `tusk_jobs_settled` for all of a process's waiters, held while any
 * wait. A waiter is registered under its job's id before the job is sent, so no announcement can
 * come before it; each announcement (or a reconnect, after which some may have been lost) makes the
 * waiter read its job, which decides whether it ended.
 *
 * @module
 */
import type { Sql } from "../db/client.ts";
import { JOBS_SETTLED_CHANNEL } from "../db/job_outcomes.ts";
import { type Listening, listenReliably } from "../db/listen.ts";

/** Wakes the waiters of jobs whose attempts settle. */
export interface Awaits {
  /**
   * Calls `onSettled` whenever job `id` may have settled, until the returned function is called.
   * Resolves once the process listens.
   */
  watch(id: string, onSettled: () => void): Promise<() => Promise<void>>;
}

/** The waiters of one process, listening through `listenSql`'s shared connection. */
export function awaits(listenSql: Sql): Awaits {
  const waiters = new Map<string, Set<() => void>>();
  let listening: Promise<Listening> | undefined;
  // Stops run one after another, so a new first waiter never races the last one's UNLISTEN.
  let stopping = Promise.resolve();

  const wakeAll = () => {
    for (const set of waiters.values()) for (const wake of set) wake();
  };
  const onNotify = (payload: string) => {
    for (const id of payload.split(",")) for (const wake of waiters.get(id) ?? []) wake();
  };

  return {
    async watch(id, onSettled) {
      const set = waiters.get(id) ?? new Set();
      waiters.set(id, set);
      set.add(onSettled);
      try {
        await stopping;
        listening ??= listenReliably(listenSql, JOBS_SETTLED_CHANNEL, {
          onNotify,
          onReconnect: wakeAll,
        });
        await listening;
      } catch (error) {
        listening = undefined;
        await unwatch();
        throw error;
      }
      async function unwatch() {
        set.delete(onSettled);
        if (set.size === 0) waiters.delete(id);
        if (waiters.size > 0 || !listening) return;
        const last = listening;
        listening = undefined;
        stopping = stopping.then(async () => (await last.catch(() => undefined))?.stop());
        await stopping;
      }
      return unwatch;
    },
  };
}
