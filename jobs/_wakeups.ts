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
  /** Ends the waits of `queue`, or of every queue when none is named. */
  wake(queue?: string): void;
}

/** Wakeups whose waits last at most `pollIntervalMs`. */
export function wakeups(pollIntervalMs: number): Wakeups {
  const waiting = new Map<string, Set<() => void>>();
  return {
    idle(queue) {
      return new Promise((resolve) => {
        const wakers = waiting.get(queue) ?? new Set();
        waiting.set(queue, wakers);
        const timer = setTimeout(done, pollIntervalMs);
        function done() {
          clearTimeout(timer);
          wakers.delete(done);
          resolve();
        }
        wakers.add(done);
      });
    },
    wake(queue) {
      for (const [name, wakers] of waiting) {
        if (queue !== undefined && name !== queue) continue;
        for (const w of wakers) w();
        wakers.clear();
      }
    },
  };
}
