/**
 * A bounded wait for a pool connection. postgres.js queues a query until a
 * connection is free (or connected) and has no limit on that wait; during an
 * outage or under overload a request would hang. Past the bound, a query that
 * has not reached a connection is withdrawn and rejects with
 * {@link AcquireTimeoutError}, which the API answers 503.
 *
 * @module
 */
import type postgres from "postgres";
import { beginWrapped, isTemplate } from "./_pool_wrap.ts";

/** No connection became free within the bound; nothing of the query ran. */
export class AcquireTimeoutError extends Error {
  /** Listed among the "database unavailable" codes (see `isDatabaseUnavailable`). */
  readonly code = "ACQUIRE_TIMEOUT";

  constructor(ms: number) {
    super(`No database connection became free within ${ms} ms`);
    this.name = "AcquireTimeoutError";
  }
}

/** postgres.js's query: `state` is set once a connection takes it. */
interface QueuedQuery {
  state?: unknown;
  cancel(): unknown;
  then: PromiseLike<unknown>["then"];
}

/**
 * Wraps a pool so that queries and transactions wait at most `ms` for a
 * connection. Fragments (templates nested in other queries) are untouched:
 * the bound starts when a query is awaited.
 *
 * @example
 * ```ts
 * const sql = boundedAcquire(postgres(url), 2000);
 * ```
 */
export function boundedAcquire(sql: postgres.Sql, ms: number): postgres.Sql {
  function boundedBegin(...args: unknown[]) {
    let started = false;
    let abandoned = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (started) return;
        abandoned = true;
        reject(new AcquireTimeoutError(ms));
      }, ms);
    });
    const run = beginWrapped(sql, args, (fn) => (tx) => {
      started = true;
      clearTimeout(timer);
      // Too late: the caller has been answered. Roll back without running anything.
      if (abandoned) throw new AcquireTimeoutError(ms);
      return fn(tx);
    });
    run.catch(() => {}); // an abandoned transaction's rollback is nobody's error
    return Promise.race([run, timedOut]).finally(() => clearTimeout(timer));
  }
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const query = Reflect.apply(target, thisArg, args);
      if (!isTemplate(args[0])) return query;
      const q = query as QueuedQuery;
      const then = q.then.bind(q);
      let timedOut = false;
      q.then = (onFulfilled, onRejected) => {
        const timer = setTimeout(() => {
          if (q.state) return; // running: the statement timeout bounds it
          timedOut = true;
          q.cancel();
        }, ms);
        const settle = () => clearTimeout(timer);
        return then(
          (value) => (settle(), onFulfilled ? onFulfilled(value) : value),
          (error) => {
            settle();
            const reason = timedOut ? new AcquireTimeoutError(ms) : error;
            if (onRejected) return onRejected(reason);
            throw reason;
          },
        ) as never;
      };
      return query;
    },
    get(target, property, receiver) {
      if (property === "begin") return boundedBegin;
      return Reflect.get(target, property, receiver);
    },
  });
}
