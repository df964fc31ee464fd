/**
 * A bounded wait for a pool connection. postgres.js queues a query until a
 * connection is free (or connected) and has no limit on that wait; during an
 * outage or under overload a request would hang.
 *
 * So the API hands postgres.js at most as many queries and transactions as it
 * has connections, and keeps the rest waiting here, where giving up is safe:
 * a query that waited past the bound rejects with {@link AcquireTimeoutError}
 * (answered 503) and was never sent. (Cancelling a query postgres.js already
 * holds is not: one cancelled while its connection is being opened leaves that
 * connection out of the pool for good.) A query handed over settles by itself:
 * it runs (bounded by the statement timeout) or its connection attempt fails
 * (bounded by the connect timeout).
 *
 * @module
 */
import type postgres from "postgres";
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
  /** The pool's size: how many queries and transactions may be handed over at once. */
  slots: number;
  /** Longest wait for a slot, in ms. */
  waitMs: number;
  /**
   * A query (not a transaction) handed over and still unsettled after this
   * long frees its slot and rejects with {@link StrandedQueryError}; unset, never.
   */
  strandedMs?: number;
}

type Release = () => void;

/** A counting semaphore whose waiters give up after `waitMs`. */
function slots(count: number, waitMs: number) {
  let free = count;
  const waiting: ((release: Release) => void)[] = [];

  function releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      if (next) next(releaser());
      else free++;
    };
  }

  return function acquire(): Promise<Release> {
    if (free > 0) {
      free--;
      return Promise.resolve(releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = (release: Release) => {
        clearTimeout(timer);
        resolve(release);
      };
      const timer = setTimeout(() => {
        const index = waiting.indexOf(grant);
        if (index >= 0) waiting.splice(index, 1);
        reject(new AcquireTimeoutError(waitMs));
      }, waitMs);
      waiting.push(grant);
    });
  };
}

/**
 * Wraps a pool so that queries and transactions wait at most `waitMs` for a
 * connection. Fragments (templates nested in other queries) are untouched:
 * the wait starts when a query is awaited.
 *
 * @example
 * ```ts
 * const sql = boundedAcquire(postgres(url, { max: 10 }), { slots: 10, waitMs: 2000 });
 * ```
 */
export function boundedAcquire(sql: postgres.Sql, options: AcquireOptions): postgres.Sql {
  const acquire = slots(options.slots, options.waitMs);

  /** Defers `query` until a slot is free; it runs at most once, however often awaited. */
  function bound<Q>(query: Q): Q {
    return onFirstAwait(
      query,
      (start) => acquire().then((release) => settleWithin(start(), release)),
    );
  }

  function settleWithin(run: PromiseLike<unknown>, release: Release): Promise<unknown> {
    const running = Promise.resolve(run).finally(release);
    if (options.strandedMs === undefined) return running;
    const ms = options.strandedMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stranded = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        release();
        reject(new StrandedQueryError(ms));
      }, ms);
    });
    return Promise.race([running, stranded]).finally(() => clearTimeout(timer));
  }

  async function boundedBegin(...args: unknown[]) {
    const release = await acquire();
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
