/**
 * The root async context: no store of any `AsyncLocalStorage` (audit history,
 * ambient transaction, active span). Deno hands every later `Deno.serve`
 * request the async context that was current when a Node-API addon (DuckDB)
 * was first loaded, so a first report loaded inside a superuser's request
 * would tag every later request with that user (see docs/history.md).
 * Code that loads or opens a native addon, or anything else that
 * might hold on to the context it starts in, runs here instead.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";

// Taken as this module is evaluated: at start-up, from the static import graph of an entry
// point, where no run() of any store has begun. (Never import this module dynamically.)
const root = AsyncLocalStorage.snapshot();

/**
 * Runs `fn` in the root async context; what `fn` returns (a promise too)
 * comes back to the caller's context as usual.
 *
 * @example
 * ```ts
 * const duckdb = await outsideAnyContext(() => import("@duckdb/node-api"));
 * ```
 */
export function outsideAnyContext<T>(fn: () => T): T {
  return root(fn);
}
