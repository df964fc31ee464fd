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
 * still in flight or a rolled-back one. Every transaction that appends to
 * the log holds a shared advisory lock from before it takes an id until it
 * ends (migration 0014), so the reader notes who held it when it saw the
 * hole; once they have all ended, the next read shows the hole's final
 * state. Other transactions, however long, never hold the streams back; a
 * long transaction that wrote a tracked row does, until it ends: late,
 * never lost.
 *
 * @module
 */
import type { Sql } from "../../db/client.ts";
import { type LogEntry, logTop, readTail, type TailRead } from "../../db/live_events.ts";
import { outageLogger } from "../../db/outage.ts";
import type { Logger } from "../../lib/logging.ts";

// Entries per read: a burst is handed on in a few reads, each a short index range scan.
const DEFAULT_BATCH = 1000;
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

/**
 * A hole the reader is waiting on: every id up to `top` is final once every
 * one of `writers` has ended, as seen by the read after the one that saw
 * them gone (its snapshot comes after that).
 */
interface Pending {
  top: number;
  writers: string[];
  cleared?: boolean;
  since: number;
  warned?: boolean;
}

/**
 * Starts reading the log from its current end; `onEntries` gets each batch
 * of final entries, in id order, once the mark has passed them.
 *
 * @example
 * ```ts
 * const tailer = await startTailer(sql, { log, pollMs: 25, onEntries: fanOut });
 * await tailer.ready;
 * ```
 */
export async function startTailer(
  sql: Sql,
  options: {
    log: Logger;
    /** How often the sequence is looked at (`EVENTS_POLL_MS`). */
    pollMs: number;
    onEntries: (entries: LogEntry[]) => void;
    /** Entries per read (1,000); the tests make it small to reach many batch boundaries. */
    batch?: number;
  },
): Promise<Tailer> {
  const { log, onEntries, pollMs, batch = DEFAULT_BATCH } = options;
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failing = false;
  const outage = outageLogger(
    log,
    "live events: database unavailable; reading again when it is back",
  );
  let finalUpTo = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => resolveReady = resolve);

  // Start at the end: every id up to `start` was taken before the first read, by a transaction
  // that held the writers' lock from before then, so the usual rule makes them final in time.
  const start = await logTop(sql);
  let mark = start;
  const first = await readTail(sql, mark, batch);
  let pending: Pending | undefined = {
    top: mark,
    writers: first.writers,
    since: Date.now(),
  };
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
      while (!stopped && absorb(await readTail(sql, mark, batch), top));
      if (failing) log.info("live events: reading the log again");
      failing = false;
    } catch (error) {
      if (!outage(error) && !failing) {
        log.warn("live events: cannot read the log", { error: String(error) });
      }
      failing = true;
    }
  }

  /**
   * Takes in one read, made after `top` was read from the sequence; true when
   * it was a full batch (so read again at once).
   */
  function absorb(read: TailRead, top: number): boolean {
    if (pending?.cleared) {
      finalUpTo = Math.max(finalUpTo, pending.top);
      pending = undefined;
    } else if (pending !== undefined && !pending.writers.some((w) => read.writers.includes(w))) {
      pending.cleared = true;
    }
    const full = read.entries.length === batch;
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
    // Ids up to `top` not seen yet: in flight, or rolled back (`top` itself may be either). A
    // hole seen in a full batch counts too: with a batch or more behind it (a burst, or the
    // writes while the reader was away in an outage), no read would ever come back short.
    if ((held !== undefined || (!full && next < top)) && pending === undefined) {
      pending = { top, writers: read.writers, since: Date.now() };
    }
    if (pending !== undefined && !pending.warned && Date.now() - pending.since > HELD_WARNING_MS) {
      pending.warned = true;
      log.warn("live events are held back by a transaction that has been open a long time", {
        waiting_since: new Date(pending.since).toISOString(),
        // pg_stat_activity's backend_xid / pg_locks's virtualtransaction name them.
        writers: pending.writers.filter((w) => read.writers.includes(w)),
      });
    }
    if (pending === undefined) resolveReady();
    // The mark first: a stream that checks it from `onEntries` on sees these entries as handed on.
    mark = next;
    if (out.length > 0) onEntries(out);
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
