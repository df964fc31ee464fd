/**
 * A bounded wait for a pool connection. postgres.js queues a query until a
 * connection is free (or connected) and has no limit on that wait; during an
 * outage or under overload a request would hang.
 *
 * So the API hands postgres.js at most a few queries per connection (a
 * transaction counts as a whole connection), and keeps the rest waiting here,
 * where giving up is safe: a query that waited past the bound rejects with
 * {@link AcquireTimeoutError} (answered 503) and was never sent. (Cancelling
 * a query postgres.js already holds is not: one cancelled while its
 * connection is being opened leaves that connection out of the pool for
 * good.) A query handed over settles by itself:
 * it runs (bounded by the statement timeout) or its connection attempt fails
 * (bounded by the connect timeout).
 *
 * @module
 */
import type postgres from "postgres";
import { type After, deadlines } from "../lib/deadlines.ts";
import { beginWrapped, isTemplate, onFirstAwait } from "./_pool_wrap.ts";

/** No connection became free within the bound; nothing of the query ran. */
export class AcquireTimeoutError extends Error {
  /** Listed among the "database unavailable" codes (see `isDatabaseUnavailable`). */
  readonly code = "ACQUIRE_TIMEOUT";

  constructor(ms: number) {
    super(`No database connection became free within ${ms} ms`);
    this.name = "AcquireTimeoutError";
  }
}

/** A query handed over that neither ran nor failed in time: its connection died unnoticed. */
export class StrandedQueryError extends Error {
  readonly code = "QUERY_STRANDED";

  constructor(ms: number) {
    super(`The database connection gave no answer within ${ms} ms; the query's outcome is unknown`);
    this.name = "StrandedQueryError";
  }
}

/** Options for {@link boundedAcquire}. */
export interface AcquireOptions {
  /** The pool's size (connections). */
  connections: number;
  /** Longest wait for a slot, in ms. */
  waitMs: number;
  /**
   * A query handed over whose connection gives no answer for this long frees
   * its slot and rejects with {@link StrandedQueryError}; unset, never.
   */
  strandedMs?: number;
}

/**
 * Queries handed to postgres.js per connection at once. postgres.js pipelines
 * queries on a busy connection (it sends the next before the last answered);
 * a pool of 10 serving 32 requests ran ~1.3x the reads per second with 4 in
 * flight per connection as with 1. A transaction holds a whole connection,
 * so it takes all of that connection's slots.
 */
const PIPELINE = 4;

type Release = () => void;

/** A weighted counting semaphore, first come first served, whose waiters give up after `waitMs`. */
function slots(count: number, waitMs: number, after: After) {
  let free = count;
  const waiting: { n: number; grant: (release: Release) => void }[] = [];

  function grantWaiters() {
    while (waiting.length > 0 && waiting[0]!.n <= free) {
      const next = waiting.shift()!;
      free -= next.n;
      next.grant(releaser(next.n));
    }
  }

  function releaser(n: number): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      free += n;
      grantWaiters();
    };
  }

  return function acquire(n: number): Promise<Release> {
    if (waiting.length === 0 && free >= n) {
      free -= n;
      return Promise.resolve(releaser(n));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        n,
        grant: (release: Release) => {
          cancel();
          resolve(release);
        },
      };
      const cancel = after(waitMs, () => {
        const index = waiting.indexOf(waiter);
        if (index >= 0) waiting.splice(index, 1);
        reject(new AcquireTimeoutError(waitMs));
        // A transaction at the head may have held back queries that fit.
        grantWaiters();
      });
      waiting.push(waiter);
    });
  };
}

/**
 * Wraps a postgres.js pool so every query and transaction first waits, at
 * most `waitMs`, for a free slot (see the module doc).
 *
 * @example
 * ```ts
 * const sql = boundedAcquire(postgres(url, { max: 10 }), { connections: 10, waitMs: 2000 });
 * ```
 */
export function boundedAcquire(sql: postgres.Sql, options: AcquireOptions): postgres.Sql {
  const waitMs = options.waitMs;
  const strandedMs = options.strandedMs;
  // A tenth of the shortest bound: a wait of 2 s gives up by 2.2 s at worst.
  const after = deadlines(Math.max(10, Math.min(waitMs, strandedMs ?? waitMs) / 10));
  const acquire = slots(options.connections * PIPELINE, waitMs, after);

  /** Defers `query` until a slot is free; it runs at most once, however often awaited. */
  function bound<Q>(query: Q): Q {
    return onFirstAwait(
      query,
      (start) => acquire(1).then((release) => settleWithin(start(), release)),
    );
  }

  function settleWithin(run: Promise<unknown>, release: Release): Promise<unknown> {
    if (strandedMs === undefined) return run.finally(release);
    return new Promise((resolve, reject) => {
      const cancel = after(strandedMs, () => {
        release();
        reject(new StrandedQueryError(strandedMs));
      });
      run.then(
        (value) => {
          cancel();
          release();
          resolve(value);
        },
        (error) => {
          cancel();
          release();
          reject(error);
        },
      );
    });
  }

  async function boundedBegin(...args: unknown[]) {
    const release = await acquire(PIPELINE);
    try {
      return await beginWrapped(sql, args, (fn) => fn);
    } finally {
      release();
    }
  }

  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const query = Reflect.apply(target, thisArg, args);
      return isTemplate(args[0]) ? bound(query) : query;
    },
    get(target, property, receiver) {
      if (property === "begin") return boundedBegin;
      if (property === "unsafe") {
        return (...args: Parameters<postgres.Sql["unsafe"]>) => bound(target.unsafe(...args));
      }
      return Reflect.get(target, property, receiver);
    },
  });
}
