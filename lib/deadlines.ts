/**
 * Many deadlines on one timer. A timer per query or per job costs more than
 * the bookkeeping it guards: on the API's reads a timer per query cost about
 * a sixth of the throughput.
 *
 * @module
 */

/** Calls `fire` in about `ms`, unless the returned function is called first. */
export type After = (ms: number, fire: () => void) => () => void;

/**
 * A set of deadlines checked every `tickMs` by one interval, which runs only
 * while a deadline is pending (so an idle process, or a test, holds no timer).
 * Deadlines fire up to `tickMs` late.
 *
 * @example
 * ```ts
 * const after = deadlines(100);
 * const cancel = after(2000, () => reject(new Error("too slow")));
 * // ...settled in time:
 * cancel();
 * ```
 */
export function deadlines(tickMs: number): After {
  const pending = new Set<{ at: number; fire: () => void }>();
  let timer: ReturnType<typeof setInterval> | undefined;

  function sweep() {
    const now = performance.now();
    for (const entry of pending) {
      if (entry.at <= now) {
        pending.delete(entry);
        entry.fire();
      }
    }
    stopWhenIdle();
  }

  function stopWhenIdle() {
    if (pending.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return function after(ms, fire) {
    const entry = { at: performance.now() + ms, fire };
    pending.add(entry);
    timer ??= setInterval(sweep, tickMs);
    return () => {
      pending.delete(entry);
      stopWhenIdle();
    };
  };
}
