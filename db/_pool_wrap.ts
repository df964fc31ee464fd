/**
 * What the pool wrappers (`acquire.ts`, `history_context.ts`) share: telling
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

/** Calls `sql.begin([options,] fn)` as `args` give it, with `fn` replaced by `wrap(fn)`. */
export function beginWrapped(
  sql: postgres.Sql,
  args: unknown[],
  wrap: (fn: TxFn) => TxFn,
): Promise<unknown> {
  const begin = sql.begin.bind(sql) as (...a: unknown[]) => Promise<unknown>;
  const fn = wrap(args.at(-1) as TxFn);
  return args.length > 1 ? begin(args[0], fn) : begin(fn);
}
