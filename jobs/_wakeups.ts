/**
 * Waiting on an empty queue: for a NOTIFY that a job arrived, or at most the
 * poll interval, whichever comes first.
 *
 * @module
 */

/** Idle waits per queue, ended by {@link Wakeups.wake} or the poll interval. */
export interface Wakeups {
  /** Resolves on the next wake of `queue`, or after the poll interval. */
  idle(queue: string): Promise<void>;
  /** Ends the waits of `queue`, or of every queue (and every sleep) when none is named. */
  wake(queue?: string): void;
  /** Resolves after `ms`, or on a wake of every queue (a stop), never on one queue's. */
  sleep(ms: number): Promise<void>;
}

// Sleeps wait under a name no queue has, so only a wake of every queue ends them.
const SLEEPERS = "\0sleep";

/** Wakeups whose waits last at most `pollIntervalMs`. */
export function wakeups(pollIntervalMs: number): Wakeups {
  const waiting = new Map<string, Set<() => void>>();
  // Queues woken while none of their loops waited (they were fetching): the next wait ends at
  // once, or a job that arrived (or a group slot that freed) during the fetch waits a poll.
  const missed = new Set<string>();
  function wait(name: string, ms: number): Promise<void> {
    if (missed.delete(name)) return Promise.resolve();
    return new Promise((resolve) => {
      const wakers = waiting.get(name) ?? new Set();
      waiting.set(name, wakers);
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }
  return {
    idle: (queue) => wait(queue, pollIntervalMs),
    sleep: (ms) => wait(SLEEPERS, Math.max(0, ms)),
    wake(queue) {
      if (queue !== undefined && !(waiting.get(queue)?.size)) missed.add(queue);
      for (const [name, wakers] of waiting) {
        if (queue !== undefined && name !== queue) continue;
        for (const w of wakers) w();
        wakers.clear();
      }
    },
  };
}
