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
  // Where neither is set (every request), entering the async context costs a fifth of /healthz.
  if (storage.getStore() === undefined && sendScopes.getStore() === undefined) return fn();
  return storage.run(undefined, () => sendScopes.run(undefined, fn));
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

/** The ambient transaction code runs in, if any. */
export function ambientTransaction(): postgres.TransactionSql | undefined {
  return storage.getStore();
}

/** The jobs sent so far under one idempotent request, per queue. */
interface SendScope {
  key: string;
  sent: Map<string, number>;
}

const sendScopes = new AsyncLocalStorage<SendScope | undefined>();

/**
 * Runs `fn` with `key` naming the jobs it sends: the same request run again (as a request whose
 * answer was not kept is) sends the same jobs under the same names, and pg-boss keeps one of each.
 * `key` must be secret-derived and unique to the request (the idempotency middleware's HMAC).
 */
export function inSendScope<T>(key: string, fn: () => T): T {
  return sendScopes.run({ key, sent: new Map() }, fn);
}

/**
 * The name of the next job sent to `queue` in the current send scope (`key:queue:n`, n counting
 * from 1), or undefined outside one.
 */
export function nextScopedSend(queue: string): string | undefined {
  const scope = sendScopes.getStore();
  if (scope === undefined) return undefined;
  const n = (scope.sent.get(queue) ?? 0) + 1;
  scope.sent.set(queue, n);
  return `${scope.key}:${queue}:${n}`;
}
