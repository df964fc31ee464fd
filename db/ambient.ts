/**
 * Ambient transactions: code that runs inside {@link inAmbientTransaction}
 * and queries the pool gets the transaction instead, without being passed it.
 * A request made idempotent runs whole in one transaction this way, so its
 * writes and its stored response commit together or not at all.
 *
 * Inside one, pool queries run on the transaction, and `sql.begin()` opens a
 * savepoint in it (committed or rolled back with the rest).
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type postgres from "postgres";
import { isTemplate, type TxFn } from "./_pool_wrap.ts";

const storage = new AsyncLocalStorage<postgres.TransactionSql | undefined>();

/**
 * Runs `fn` with `tx` as the ambient transaction: pool queries made from it
 * (in this async context) run on `tx`.
 *
 * @example
 * ```ts
 * await sql.begin((tx) => inAmbientTransaction(tx, () => handler()));
 * ```
 */
export function inAmbientTransaction<T>(tx: postgres.TransactionSql, fn: () => T): T {
  return storage.run(tx, fn);
}

/**
 * Runs `fn` with no ambient transaction, whatever the caller's context holds:
 * where a request, job attempt or command begins.
 */
export function outsideAmbientTransaction<T>(fn: () => T): T {
  return storage.run(undefined, fn);
}

/** Wraps a pool so that queries honour the ambient transaction, when there is one. */
export function ambientTransactions(sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const tx = storage.getStore();
      if (tx !== undefined && isTemplate(args[0])) return Reflect.apply(tx, undefined, args);
      return Reflect.apply(target, thisArg, args);
    },
    get(target, property, receiver) {
      // Only these two differ inside a transaction; every other property is the pool's.
      const tx = property === "begin" || property === "unsafe" ? storage.getStore() : undefined;
      if (tx === undefined) return Reflect.get(target, property, receiver);
      if (property === "unsafe") return tx.unsafe.bind(tx);
      return (...args: unknown[]) => {
        const fn = args.at(-1) as TxFn;
        return tx.savepoint((sp) => storage.run(sp, () => fn(sp)));
      };
    },
  });
}
