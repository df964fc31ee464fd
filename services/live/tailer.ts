/**
 * The tail reader: one per process, however many streams. Woken by NOTIFY
 * (and by a slow poll, should a notification be lost), it reads the log
 * after its mark and hands on entries in id order, never skipping one that
 * a transaction still running may yet commit.
 *
 * Ids are taken when rows are written, not when they commit, so id 8 can
 * become visible after id 9. The reader therefore moves its mark only over
 * ids it has seen, and stops at the first hole. A hole is either a write
 * still in flight or a rolled-back one; it counts as final once a later
 * snapshot shows every transaction that was running at the first sight of
 * it finished (its `xmin` has passed that sight's `xmax`; the migration
 * makes sure a transaction has its id before it takes a log id). A long
 * transaction that wrote a tracked row therefore holds the streams back
 * until it ends: late, never lost.
 *
 * @module
 */
import type { Sql } from "../../db/client.ts";
import { listenReliably } from "../../db/listen.ts";
import { type LogEntry, logTop, readTail, type TailRead } from "../../db/live_events.ts";
import type { Logger } from "../../lib/logging.ts";

/** The channel the log's triggers notify (migration 0014). */
export const LOG_CHANNEL = "tusk_events";
// Entries per read: a burst is handed on in a few reads, each a short index range scan.
const BATCH = 1000;
// Reads start at most this often, however fast writes come: under a write load every commit
// notifies, and a read per commit would put as many queries on the server as there are writes.
// Each read takes whatever committed meanwhile, so this adds at most this much latency.
const MIN_READ_INTERVAL_MS = 20;
// While a hole waits on transactions: a rollback sends no notification, so look again soon.
const HOLE_POLL_MS = 50;
// With nothing pending: only a lost notification (or a write made with triggers off) is late.
const IDLE_POLL_MS = 5000;
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
 * const tailer = await startTailer(sql, { log, onEntries: (entries, mark) => fanOut(entries) });
 * await tailer.ready;
 * ```
 */
export async function startTailer(
  sql: Sql,
  options: { log: Logger; onEntries: (entries: LogEntry[], mark: number) => void },
): Promise<Tailer> {
  const { log, onEntries } = options;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failing = false;
  let finalUpTo = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => resolveReady = resolve);

  const wake = () => {
    if (stopped) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = loop().finally(() => {
      running = undefined;
      if (!stopped) {
        timer = setTimeout(wake, failing ? RETRY_MS : pending ? HOLE_POLL_MS : IDLE_POLL_MS);
      }
    });
  };

  // Listening first: whatever commits after the start point below wakes the reader.
  const listening = await listenReliably(sql, LOG_CHANNEL, { onNotify: wake, onReconnect: wake });
  // Start at the end: every id up to `top` was taken before the first read's snapshot, by a
  // transaction that had its xid by then, so the usual rule makes them final in time.
  let mark: number;
  let pending: Pending | undefined;
  try {
    mark = await logTop(sql);
    pending = { top: mark, xmax: 0n, since: Date.now() };
    const first = await readTail(sql, mark, BATCH);
    pending.xmax = first.xmax;
    absorb(first);
  } catch (error) {
    await listening.stop();
    throw error;
  }

  async function loop() {
    try {
      do {
        again = false;
        const started = performance.now();
        const read = await readTail(sql, mark, BATCH);
        const full = absorb(read);
        if (full) again = true;
        const rest = MIN_READ_INTERVAL_MS - (performance.now() - started);
        if (again && !full && rest > 0) await new Promise((r) => setTimeout(r, rest));
      } while (again && !stopped);
      if (failing) log.info("live events: reading the log again");
      failing = false;
    } catch (error) {
      if (!failing) log.warn("live events: cannot read the log", { error: String(error) });
      failing = true;
    }
  }

  /** Takes in one read; true when it was a full batch (so read again at once). */
  function absorb(read: TailRead): boolean {
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
    if (held !== undefined && pending === undefined) {
      pending = { top: read.entries.at(-1)!.id, xmax: read.xmax, since: Date.now() };
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

  if (!stopped) timer = setTimeout(wake, pending ? HOLE_POLL_MS : IDLE_POLL_MS);
  return {
    get mark() {
      return mark;
    },
    ready,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await listening.stop();
      resolveReady();
    },
  };
}
