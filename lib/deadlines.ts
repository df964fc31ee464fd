/**
 * Many deadlines on one timer. A timer per query or per job costs more than
 * the bookkeeping it guards: on the API's reads a timer per query cost about
 * a sixth of the throughput.
 *
 * The pending deadlines are a doubly linked list of class instances, not a
 * `Set` of object literals: a deadline is set and cancelled per query, and
 * with the `Set` the API's queries, with their rows and promises, outlived
 * the young-generation collections, about 1.1 KB a `GET /items/{id}` (even
 * with V8's allocation-site pretenuring off; docs/performance.md). A `Set`
 * that grows and shrinks reallocates its table, and V8 keeps a discarded
 * table's entries for iterators that may still walk it, which is the likely
 * link. A cancelled entry here is unlinked and cleared, so nothing dead
 * points at anything live.
 *
 * @module
 */

/** Calls `fire` in about `ms`, unless the returned function is called first. */
export type After = (ms: number, fire: () => void) => () => void;

/** A class, not an object literal: V8 may move a literal's allocation to the old generation. */
class Entry {
  next: Entry | null = null;
  constructor(
    public at: number,
    public fire: (() => void) | null,
    public prev: Entry | null,
  ) {}
}

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
  // Oldest first, so deadlines that are due together fire in the order they were set.
  let head: Entry | null = null;
  let tail: Entry | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;

  function unlink(entry: Entry) {
    if (entry.prev !== null) entry.prev.next = entry.next;
    else head = entry.next;
    if (entry.next !== null) entry.next.prev = entry.prev;
    else tail = entry.prev;
    entry.prev = entry.next = null;
    entry.fire = null;
  }

  function sweep() {
    const now = performance.now();
    let entry = head;
    while (entry !== null) {
      const next = entry.next;
      if (entry.at <= now) {
        const fire = entry.fire!;
        unlink(entry);
        fire();
      }
      // A fire() may have cancelled the next entry: an unlinked entry has no fire, so start over.
      entry = next !== null && next.fire === null ? head : next;
    }
    stopWhenIdle();
  }

  function stopWhenIdle() {
    if (head === null && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return function after(ms, fire) {
    const entry = new Entry(performance.now() + ms, fire, tail);
    if (tail !== null) tail.next = entry;
    else head = entry;
    tail = entry;
    timer ??= setInterval(sweep, tickMs);
    return () => {
      if (entry.fire === null) return;
      unlink(entry);
      stopWhenIdle();
    };
  };
}
