/**
 * Who and why for audit history. The current context (a request, a job
 * attempt, a CLI command, a block of code) travels with the async call chain
 * in an `AsyncLocalStorage`; the history-aware pool hands it to the triggers
 * through the transaction-local setting `tusk.history_context`, in the same
 * transaction as each write.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type postgres from "postgres";
import { beginWrapped, isTemplate } from "./_pool_wrap.ts";
import { ambientTransaction, outsideAmbientTransaction } from "./ambient.ts";

/** Metadata stored with a context: `user_id`, `request_id`, `job_id`, `label`, anything else. */
export type HistoryMetadata = Record<string, unknown>;

/** One context: its id (the `contexts` row) and metadata. */
export interface HistoryContext {
  readonly id: string;
  /** Mutable until the first write of the context (see {@link addHistoryMetadata}). */
  readonly metadata: HistoryMetadata;
  /** The pool {@link withHistoryContext} opens its transaction on, when known. */
  readonly sql: postgres.Sql | undefined;
  /** The transaction this code runs in, when inside `sql.begin()`: nested blocks use it. */
  readonly tx?: postgres.TransactionSql;
}

/**
 * A context is made by a class and its metadata by `Object.create`, never by an object literal:
 * V8 moves a literal's allocations to the old generation once enough of them have lived long (a
 * job's or a CLI command's context does), and then each request's context and all it points at
 * outlived the young-generation collections (docs/performance.md).
 */
class Context implements HistoryContext {
  constructor(
    readonly id: string,
    readonly metadata: HistoryMetadata,
    readonly sql: postgres.Sql | undefined,
    readonly tx: postgres.TransactionSql | undefined,
  ) {}

  /** This context, for the code that runs in `tx`. */
  inTransaction(tx: postgres.TransactionSql): Context {
    return new Context(this.id, this.metadata, this.sql, tx);
  }
}

const storage = new AsyncLocalStorage<Context>();

/** The transaction-local setting the history triggers read the context from. */
const HISTORY_SETTING = "tusk.history_context";

/** The context in effect here, if any. */
export function currentHistoryContext(): HistoryContext | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` in a new context whose metadata is the current one's with
 * `metadata` merged over it.
 *
 * @example
 * ```ts
 * await runInHistoryContext({ ticket: "OPS-12" }, () => importItems(sql));
 * ```
 */
export function runInHistoryContext<T>(
  metadata: HistoryMetadata,
  fn: () => T,
  options: { sql?: postgres.Sql } = {},
): T {
  const parent = storage.getStore();
  const context = new Context(
    crypto.randomUUID(),
    withoutUndefined(metadata, parent && withoutUndefined(parent.metadata)),
    options.sql ?? parent?.sql,
    parent?.tx,
  );
  return storage.run(context, fn);
}

/**
 * Runs `fn` in a new root context: only `metadata`, no transaction, and no
 * ambient transaction, whatever the caller's context holds. Every request,
 * job attempt and CLI command starts here, so nothing of the work before it
 * (a user, a job, a finished transaction) can reach its history.
 *
 * @example
 * ```ts
 * await runInRootContext({ request_id: id, method: "POST" }, next, { sql });
 * ```
 */
export function runInRootContext<T>(
  metadata: HistoryMetadata,
  fn: () => T,
  options: { sql?: postgres.Sql } = {},
): T {
  const context = new Context(
    crypto.randomUUID(),
    withoutUndefined(metadata),
    options.sql,
    undefined,
  );
  return outsideAmbientTransaction(() => storage.run(context, fn));
}

/** Adds metadata to the current context, e.g. the user once authentication has run. */
export function addHistoryMetadata(metadata: HistoryMetadata): void {
  const context = storage.getStore();
  if (context) Object.assign(context.metadata, withoutUndefined(metadata));
}

/**
 * Runs `fn` in a transaction whose changes are recorded with `metadata`
 * merged over the current context's (like `pghistory.context`); nested blocks
 * merge again. A `label` replaces the default event label (`items.update`).
 * Inside a transaction (`sql.begin()` in a context, or `options.tx`) it runs in
 * a savepoint of that transaction; otherwise it opens its own on the context's
 * pool (or `options.sql`), committed when `fn` resolves.
 *
 * @example
 * ```ts
 * await withHistoryContext({ label: "items.import", ticket: "OPS-12" }, async (tx) => {
 *   await tx`update items set title = upper(title)`;
 * });
 * ```
 */
export function withHistoryContext<T>(
  metadata: HistoryMetadata,
  fn: (tx: postgres.TransactionSql) => Promise<T>,
  options: { sql?: postgres.Sql; tx?: postgres.TransactionSql } = {},
): Promise<T> {
  const outer = storage.getStore();
  const outerTx = options.tx ?? outer?.tx;
  return runInHistoryContext(metadata, async () => {
    const context = storage.getStore()!;
    if (outerTx === undefined) {
      if (context.sql === undefined) {
        throw new Error(
          "withHistoryContext() outside a request, job or command needs the pool: pass { sql }",
        );
      }
      return await context.sql.begin((tx) => fn(tx)) as T;
    }
    const result = await outerTx.savepoint(async (sp) => {
      await setContext(sp, context);
      return await storage.run(context.inTransaction(sp), () => fn(sp));
    }) as T;
    // A released savepoint keeps its settings: give the rest of the transaction its own back.
    await setContext(outerTx, outer);
    return result;
  }, { sql: options.sql });
}

function setContext(
  tx: postgres.Sql | postgres.TransactionSql,
  context: HistoryContext | undefined,
) {
  const value = context === undefined ? "" : contextSetting(context);
  return tx`select set_config(${HISTORY_SETTING}, ${value}, true)`;
}

/** The setting's value for `context`: what the trigger reads. */
function contextSetting(context: HistoryContext): string {
  return JSON.stringify({ id: context.id, metadata: context.metadata });
}

/** `metadata`'s defined entries, written over `kept` (a new object: see {@link Context}). */
function withoutUndefined(
  metadata: HistoryMetadata,
  kept: HistoryMetadata = Object.create(Object.prototype),
): HistoryMetadata {
  for (const key in metadata) {
    if (metadata[key] !== undefined) kept[key] = metadata[key];
  }
  return kept;
}

const WRITE = /^\s*(?:insert|update|delete|merge)\b/i;
const CTE = /^\s*with\b/i;
const WRITE_ANYWHERE = /\b(?:insert|update|delete|merge)\b/i;

/** Whether a tagged template is a data-changing statement (a CTE that writes counts). */
function isWrite(strings: TemplateStringsArray): boolean {
  const head = strings[0] ?? "";
  return WRITE.test(head) || (CTE.test(head) && strings.some((s) => WRITE_ANYWHERE.test(s)));
}

/**
 * Wraps a postgres.js pool so history context reaches the triggers:
 * `sql.begin()` sets it first in every transaction, and a write statement run
 * on the pool while a context is active runs in a transaction that sets it.
 * Reads, and everything outside a context, pass straight through.
 *
 * @example
 * ```ts
 * const sql = historyAware(postgres(url));
 * ```
 */
export function historyAware(sql: postgres.Sql): postgres.Sql {
  function attachedBegin(...args: unknown[]) {
    return beginWrapped(sql, args, (fn) => (tx) => {
      const context = storage.getStore();
      if (context === undefined) return fn(tx);
      // Queued first on the transaction's connection, not awaited: no extra round trip.
      const attached = setContext(tx, context);
      attached.catch(() => {}); // a failure surfaces below, and aborts the transaction anyway
      const result = storage.run(context.inTransaction(tx), () => fn(tx));
      // Queries returned at once stay an array: the driver sends COMMIT with them, and fails
      // the transaction itself if setting the context failed.
      if (Array.isArray(result)) return result;
      return Promise.resolve(result).then((value) => attached.then(() => value));
    });
  }
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const context = storage.getStore();
      if (context === undefined || !isTemplate(args[0]) || !isWrite(args[0])) {
        return Reflect.apply(target, thisArg, args);
      }
      if (ambientTransaction() === undefined) {
        // The context goes with the statement as a transaction-local setting, in the implicit
        // transaction the statement runs in: no BEGIN or COMMIT, no round trip of its own
        // (vendor/README.md, setLocal()).
        const query = Reflect.apply(target, thisArg, args) as postgres.PendingQuery<never>;
        return query.setLocal(HISTORY_SETTING, contextSetting(context));
      }
      // In the ambient transaction: a savepoint of it, so the context is this write's alone.
      const [strings, ...values] = args as [TemplateStringsArray, ...never[]];
      return attachedBegin((tx: postgres.TransactionSql) => [tx(strings, ...values)])
        .then((results) => (results as unknown[])[0]);
    },
    get(target, property, receiver) {
      if (property === "begin") return attachedBegin;
      return Reflect.get(target, property, receiver);
    },
  });
}
