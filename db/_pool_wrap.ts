/**
 * What the pool wrappers (`acquire.ts`, `history_context.ts`, `traced.ts`) share: telling
 * a tagged-template call from a helper call, and re-issuing `sql.begin()`
 * with its callback wrapped.
 *
 * @module
 */
import type postgres from "postgres";

/** A transaction callback, as `sql.begin()` takes it. */
export type TxFn = (tx: postgres.TransactionSql) => unknown;

/** Whether `value` is the strings of a tagged template (`sql\`...\``), not a helper's argument. */
export function isTemplate(value: unknown): value is TemplateStringsArray {
  return Array.isArray(value) && "raw" in value;
}

/**
 * Replaces the first `then` of postgres.js's pending query (a lazy promise
 * that runs on its first `then`) with `run(start)`, where `start()` runs the
 * query. The query still runs at most once, however often it is awaited;
 * fragments (templates nested in other queries) are never awaited, so never
 * run.
 */
export function onFirstAwait<Q>(
  query: Q,
  run: (start: () => Promise<unknown>) => Promise<unknown>,
): Q {
  const q = query as { then: PromiseLike<unknown>["then"] };
  const then = q.then.bind(q);
  let result: Promise<unknown> | undefined;
  // Named first, then assigned: V8 allocates a function literal written straight into a property
  // in the old generation (it takes it for a method), and there this one kept each query and all
  // it references alive until the next full collection (docs/performance.md).
  const firstThen: PromiseLike<unknown>["then"] = (onFulfilled, onRejected) => {
    result ??= run(() => Promise.resolve(then()));
    return result.then(onFulfilled, onRejected);
  };
  q.then = firstThen;
  return query;
}

/** Calls `sql.begin([options,] fn)` as `args` give it, with `fn` replaced by `wrap(fn)`. */
export function beginWrapped(
  sql: postgres.Sql,
  args: unknown[],
  wrap: (fn: TxFn) => TxFn,
): Promise<unknown> {
  return callWrapped(sql.begin.bind(sql), args, wrap);
}

/**
 * Calls `open([name or options,] fn)` (`sql.begin`, `tx.savepoint`) as `args`
 * give it, with its callback replaced by `wrap(fn)`.
 */
export function callWrapped(
  // deno-lint-ignore no-explicit-any -- begin and savepoint are overloaded; both end in a callback
  open: (...a: any[]) => Promise<unknown>,
  args: unknown[],
  wrap: (fn: TxFn) => TxFn,
): Promise<unknown> {
  const fn = wrap(args.at(-1) as TxFn);
  return args.length > 1 ? open(args[0], fn) : open(fn);
}
