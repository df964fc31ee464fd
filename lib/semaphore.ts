/**
 * A bound on work running at once in this process: callers beyond it wait
 * their turn, first come first served.
 *
 * @module
 */

/** A bound of `slots` concurrent tasks, with its counts (for tests and metrics). */
export interface Semaphore {
  /** Runs `fn` once a slot is free; the slot is freed when `fn` settles. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  readonly slots: number;
  /** Tasks running now. */
  readonly running: number;
  /** Tasks waiting for a slot now. */
  readonly waiting: number;
  /** The most tasks that ever ran at once. */
  readonly peak: number;
  /** Tasks started so far. */
  readonly started: number;
}

/**
 * A semaphore of `slots` (at least 1).
 *
 * @example
 * ```ts
 * const hashing = semaphore(navigator.hardwareConcurrency);
 * const hashed = await hashing.run(() => hash(password));
 * ```
 */
export function semaphore(slots: number): Semaphore {
  const size = Math.max(1, Math.floor(slots));
  const queue: (() => void)[] = [];
  let running = 0;
  let peak = 0;
  let started = 0;

  function acquire(): Promise<void> {
    if (running < size) {
      running++;
      peak = Math.max(peak, running);
      return Promise.resolve();
    }
    // The slot passes straight to the waiter, so `running` never dips and lets a newcomer in.
    return new Promise((resolve) => queue.push(resolve));
  }

  function release() {
    const next = queue.shift();
    if (next === undefined) running--;
    else next();
  }

  return {
    async run(fn) {
      await acquire();
      started++;
      try {
        return await fn();
      } finally {
        release();
      }
    },
    slots: size,
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
    get peak() {
      return peak;
    },
    get started() {
      return started;
    },
  };
}
