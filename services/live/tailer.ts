/**
 * The tail reader: one per process, however many streams. Every
 * `pollMs` it looks at the log's sequence (a one-row read) and, when it
 * moved, reads the log after its mark and hands on entries in id order,
 * never skipping one that a transaction still running may yet commit.
 *
 * Why a poll and not NOTIFY: Postgres serializes the commits of
 * transactions that notify (each holds a database-wide lock through its
 * commit record's flush), so a NOTIFY in the history trigger halved
 * tracked inserts with 8 concurrent writers (6,166/s to 3,165/s on
 * PostgreSQL 15, BENCHMARKS.md). The poll costs writers nothing and
 * the server one tiny query per process per interval.
 *
 * Ids are taken when rows are written, not when they commit, so id 8 can
 * become visible after id 9. The reader therefore moves its mark only over
 * ids it has seen, and stops at the first hole. A hole is either a write
 * still in flight or a rolled-back one; it counts as final once a later
 * snapshot shows every transaction that was running at the first sight of
 * it finished (its `xmin` has passed that sight's `xmax`; a transaction has
 * its id before it takes a log id, see migration 0014). A long transaction
 * that wrote a tracked row therefore holds the streams back until it ends:
 * late, never lost.
 *
 * @module
 */
import type { Sql } from "../../db/client.ts";
import { type LogEntry, logTop, readTail, type TailRead } from "../../db/live_events.ts";
import type { Logger } from "../../lib/logging.ts";

// Entries per read: a burst is handed on in a few reads, each a short index range scan.
const BATCH = 1000;
// After a failed read (database down): try again at this pace.
const RETRY_MS = 1000;
// A hole held this long is worth a warning: some transaction is keeping every stream waiting.
const HELD_WARNING_MS = 30_000;

/** The running reader. */
export interface Tailer {
  /** Every id up to here is final and has been handed on. */
  readonly mark: number;
  /** Resolves once the ids handed out before the start are final (streams wait for it). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/** A hole the reader is waiting on: every id up to `top` is final once `xmin` reaches `xmax`. */
interface Pending {
  top: number;
  xmax: bigint;
  since: number;
  warned?: boolean;
}

/**
 * Starts reading the log from its current end; `onEntries` gets each batch
 * of final entries (possibly none, when only the mark moved) and the new mark.
 *
 * @example
 * ```ts
 * const tailer = await startTailer(sql, { log, pollMs: 25, onEntries: (e, mark) => fanOut(e) });
 * await tailer.ready;
 * ```
 */
export async function startTailer(
  sql: Sql,
  options: {
    log: Logger;
    /** How often the sequence is looked at (`EVENTS_POLL_MS`). */
    pollMs: number;
    onEntries: (entries: LogEntry[], mark: number) => void;
  },
): Promise<Tailer> {
  const { log, onEntries, pollMs } = options;
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failing = false;
  let finalUpTo = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => resolveReady = resolve);

  // Start at the end: every id up to `top` was taken before the first read's snapshot, by a
  // transaction that had its xid by then, so the usual rule makes them final in time.
  const start = await logTop(sql);
  let mark = start;
  let pending: Pending | undefined = { top: mark, xmax: 0n, since: Date.now() };
  const first = await readTail(sql, mark, BATCH);
  pending.xmax = first.xmax;
  absorb(first, start);

  function tick() {
    running = poll().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(tick, failing ? RETRY_MS : pollMs);
    });
  }

  /** Reads when the sequence moved (or a hole waits); again at once after a full batch. */
  async function poll() {
    try {
      // Read before the snapshot below: every id up to it belongs to a transaction that snapshot
      // sees running or ended.
      const top = await logTop(sql);
      if (top <= mark && pending === undefined) return;
      while (!stopped && absorb(await readTail(sql, mark, BATCH), top));
      if (failing) log.info("live events: reading the log again");
      failing = false;
    } catch (error) {
      if (!failing) log.warn("live events: cannot read the log", { error: String(error) });
      failing = true;
    }
  }

  /**
   * Takes in one read, made after `top` was read from the sequence; true when
   * it was a full batch (so read again at once).
   */
  function absorb(read: TailRead, top: number): boolean {
    if (pending !== undefined && read.xmin >= pending.xmax) {
      finalUpTo = Math.max(finalUpTo, pending.top);
      pending = undefined;
    }
    const full = read.entries.length === BATCH;
    let next = mark;
    const out: LogEntry[] = [];
    let held: LogEntry | undefined;
    for (const entry of read.entries) {
      if (entry.id !== next + 1 && entry.id > finalUpTo) {
        held = entry;
        break;
      }
      out.push(entry);
      next = entry.id;
    }
    // Holes up to finalUpTo are rollbacks: the mark passes them once the read reached that far.
    if (held === undefined && !full) next = Math.max(next, finalUpTo);
    // Ids up to `top` not seen yet: in flight, or rolled back (`top` itself may be either).
    if (!full && next < top && pending === undefined) {
      pending = { top, xmax: read.xmax, since: Date.now() };
    }
    if (pending !== undefined && !pending.warned && Date.now() - pending.since > HELD_WARNING_MS) {
      pending.warned = true;
      log.warn("live events are held back by a transaction that has been open a long time", {
        waiting_since: new Date(pending.since).toISOString(),
        oldest_running_xid: String(read.xmin),
      });
    }
    if (pending === undefined) resolveReady();
    if (next > mark || out.length > 0) {
      mark = next;
      onEntries(out, mark);
    }
    return full && held === undefined;
  }

  timer = setTimeout(tick, pollMs);
  return {
    get mark() {
      return mark;
    },
    ready,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      resolveReady();
    },
  };
}
