/**
 * A worker's concurrency: the slots its fetch loops reserve before they
 * fetch (so parallel loops never overshoot the limit) and that jobs free as
 * they end.
 *
 * @module
 */

/** Slots shared by one worker's fetch loops. */
export interface Slots {
  readonly free: number;
  /** Takes up to `max` free slots at once; returns how many. */
  reserve(max: number): number;
  /** Gives back `count` slots (default 1), waking a loop that waits for one. */
  release(count?: number): void;
  /** Resolves once a slot is free, or the worker is stopping. */
  wait(): Promise<void>;
  /** Wakes every waiter for good: the worker is stopping. */
  close(): void;
}

/** `size` slots. */
export function slots(size: number): Slots {
  let free = size;
  let closed = false;
  const waiters: (() => void)[] = [];
  return {
    get free() {
      return free;
    },
    reserve(max) {
      const taken = Math.max(0, Math.min(max, free));
      free -= taken;
      return taken;
    },
    release(count = 1) {
      for (let i = 0; i < count; i++) {
        free++;
        waiters.shift()?.();
      }
    },
    wait() {
      if (free > 0 || closed) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    close() {
      closed = true;
      for (const resolve of waiters.splice(0)) resolve();
    },
  };
}
