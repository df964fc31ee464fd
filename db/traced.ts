/**
 * OpenTelemetry for postgres.js, which has no instrumentation of its own: a
 * client span per query (OpenTelemetry's database conventions), a parent
 * span per transaction and savepoint, and the pool's use as metrics.
 *
 * Spans carry the statement as postgres.js sends it, with `$1`-style
 * placeholders: never a parameter's value. Installed by `createSql` only when
 * tracing is on, so a process without it pays nothing.
 *
 * @module
 */
import { type Attributes, context, type Span, SpanKind, trace } from "@opentelemetry/api";
import type postgres from "postgres";
import { meter, recordFailure, tracer } from "../lib/telemetry.ts";
import { callWrapped, isTemplate, onFirstAwait } from "./_pool_wrap.ts";

/** Options for {@link traced}. */
export interface TracedOptions {
  /** The database name (`db.namespace`). */
  database: string;
  /** The pool's `application_name`, naming it in the pool metrics. */
  poolName: string;
  /** Connections in the pool. */
  max: number;
}

/** What postgres.js resolves a query with: rows plus the statement's facts. */
interface QueryResult {
  command?: string | null;
  count?: number | null;
  statement?: { string?: string } | null;
}

// The first table a statement reads or writes, to name its span ("SELECT users").
const TARGET = /\b(?:from|into|update|join)\s+((?:"?[\w$]+"?\.)?"?[\w$]+"?)/i;

/**
 * Wraps a postgres.js pool so that its queries, transactions and savepoints
 * are traced.
 *
 * @example
 * ```ts
 * const sql = traced(postgres(url), { database: "app", poolName: "tusk-api", max: 10 });
 * ```
 */
export function traced(sql: postgres.Sql, options: TracedOptions): postgres.Sql {
  const base: Attributes = { "db.system.name": "postgresql", "db.namespace": options.database };
  const duration = meter().createHistogram("db.client.operation.duration", {
    description: "Duration of database client operations.",
    unit: "s",
  });
  // Queries and transactions handed to the pool and not yet settled: each holds a connection or
  // waits for one.
  let inFlight = 0;
  const pool = { "db.client.connection.pool.name": options.poolName };
  meter().createObservableUpDownCounter("db.client.connection.count", {
    description: "Connections in use (an estimate: queries and transactions in flight).",
    unit: "{connection}",
  }).addCallback((result) => {
    result.observe(Math.min(inFlight, options.max), {
      ...pool,
      "db.client.connection.state": "used",
    });
  });
  meter().createObservableUpDownCounter("db.client.connection.pending_requests", {
    description: "Queries and transactions waiting for a connection.",
    unit: "{request}",
  }).addCallback((result) => result.observe(Math.max(0, inFlight - options.max), pool));
  meter().createObservableUpDownCounter("db.client.connection.max", {
    description: "The pool's size.",
    unit: "{connection}",
  }).addCallback((result) => result.observe(options.max, pool));

  /** Traces `query` from when postgres.js runs it (its first `then`) until it settles. */
  function instrument<Q>(query: Q, counted: boolean): Q {
    return onFirstAwait(query, async (start) => {
      // Under a span that was not sampled (a parent-based sampler said no), the query's own
      // could not be either: skip making it. The duration metric is recorded all the same.
      const parent = trace.getActiveSpan();
      const span = parent === undefined || parent.isRecording()
        ? tracer().startSpan("postgresql", { kind: SpanKind.CLIENT, attributes: base })
        : undefined;
      const started = performance.now();
      if (counted) inFlight++;
      // Not made the active span: nothing postgres.js does makes spans of its own.
      try {
        const value = await start();
        finish(span, started, value as QueryResult | QueryResult[]);
        return value;
      } catch (error) {
        finish(span, started, undefined, error);
        throw error;
      } finally {
        if (counted) inFlight--;
      }
    });
  }

  function finish(
    span: Span | undefined,
    started: number,
    value: QueryResult | QueryResult[] | undefined,
    error?: unknown,
  ) {
    // A simple (multi-statement) query resolves with one result per statement.
    const last = Array.isArray(value) && Array.isArray(value.at(-1)) ? value.at(-1) : value;
    const facts = (last ?? {}) as QueryResult;
    const text = facts.statement?.string ?? (error as { query?: string } | undefined)?.query;
    const operation = facts.command ?? text?.trimStart().split(/\s/, 1)[0]?.toUpperCase();
    // An unsampled span records nothing: skip the work.
    const recording = span?.isRecording() ? span : undefined;
    if (recording !== undefined) {
      if (text !== undefined) recording.setAttribute("db.query.text", text);
      if (operation) {
        recording.setAttribute("db.operation.name", operation);
        const target = text?.match(TARGET)?.[1]?.replaceAll('"', "");
        recording.updateName(target ? `${operation} ${target}` : operation);
      }
      if (typeof facts.count === "number") {
        recording.setAttribute("db.response.returned_rows", facts.count);
      }
    }
    const metric: Attributes = { ...base, "db.operation.name": operation ?? "unknown" };
    if (error !== undefined) {
      const code = (error as { code?: unknown }).code;
      if (recording !== undefined) {
        if (typeof code === "string") recording.setAttribute("db.response.status_code", code);
        recordFailure(recording, error);
      }
      metric["error.type"] = typeof code === "string" ? code : "_OTHER";
    }
    span?.end();
    duration.record((performance.now() - started) / 1000, metric);
  }

  /**
   * Runs a transaction or savepoint (`open` with `args`) inside a span of its
   * own; its callback gets a traced handle.
   */
  async function inBlock(
    name: string,
    counted: boolean,
    // deno-lint-ignore no-explicit-any -- begin and savepoint are overloaded; both end in a callback
    open: (...a: any[]) => Promise<unknown>,
    args: unknown[],
  ): Promise<unknown> {
    const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes: base });
    const active = trace.setSpan(context.active(), span);
    if (counted) inFlight++;
    try {
      return await context.with(
        active,
        () =>
          callWrapped(
            open,
            args,
            (fn) => (tx) => context.with(active, () => fn(handle(tx, false))),
          ),
      );
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      if (counted) inFlight--;
      span.end();
    }
  }

  /**
   * The pool (`pool` true: its queries and transactions hold a connection
   * each, so they count as in flight) or a transaction handle, traced: its
   * queries, and its transactions (`begin`) or savepoints.
   */
  function handle<T extends postgres.Sql | postgres.TransactionSql>(sql: T, pool: boolean): T {
    const block = pool ? "begin" : "savepoint";
    return new Proxy(sql, {
      apply(target, thisArg, args: unknown[]) {
        const query = Reflect.apply(target, thisArg, args);
        return isTemplate(args[0]) ? instrument(query, pool) : query;
      },
      get(target, property, receiver) {
        if (property === "unsafe") {
          return (...args: Parameters<postgres.Sql["unsafe"]>) =>
            instrument((target as postgres.Sql).unsafe(...args), pool);
        }
        if (property === block) {
          const open = Reflect.get(target, property, receiver) as (
            ...a: unknown[]
          ) => Promise<unknown>;
          return (...args: unknown[]) =>
            inBlock(pool ? "transaction" : "savepoint", pool, open.bind(target), args);
        }
        return Reflect.get(target, property, receiver);
      },
    });
  }

  return handle(sql, true);
}
