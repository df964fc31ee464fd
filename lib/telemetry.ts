/**
 * Spans and metrics through `@opentelemetry/api`. Deno implements the API
 * itself when started with `OTEL_DENO=true` (and exports over OTLP); without
 * it every call here is the API's no-op, so instrumented code never branches
 * on whether tracing is on. Hot paths that would pay even for no-ops (the SQL
 * wrapper, log correlation, the HTTP route middleware) are installed only
 * when `config.tracing` says so.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";

/** The instrumentation scope of every span and metric Tusk makes. */
export const SCOPE = "tusk";

/** Tusk's tracer (the API's no-op unless Deno's telemetry is on). */
export function tracer(): Tracer {
  return trace.getTracer(SCOPE);
}

/** Tusk's meter. */
export function meter() {
  return metrics.getMeter(SCOPE);
}

/** Options for {@link inSpan}. */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent context; default the active one. */
  parent?: Context;
}

/**
 * Runs `fn` inside a new active span that ends when `fn` settles; a throw is
 * recorded on the span (exception, `error.type`, error status) and rethrown.
 *
 * @example
 * ```ts
 * const hash = await inSpan("password.hash", {}, () => argon2.hash(password));
 * ```
 */
export function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks `span` failed by `error`: the exception event, `error.type` and an error status. */
export function recordFailure(span: Span, error: unknown, type?: string): void {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (error as { code?: unknown } | null)?.code;
  span.setAttribute("error.type", type ?? (typeof code === "string" ? code : e.name));
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/**
 * The active span's ids for a log line (`trace_id`, `span_id`), or nothing
 * outside a span.
 */
export function traceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const ids = span.spanContext();
  return isSpanContextValid(ids) ? { trace_id: ids.traceId, span_id: ids.spanId } : undefined;
}

/**
 * A tracer provider that hands out the global one's tracers, except that
 * spans whose names start with one of `prefixes` are not recorded. pg-boss
 * makes a span for every fetch of a polling worker, most of them empty: they
 * would bury the traces that matter.
 */
export function withoutSpans(prefixes: string[]): TracerProvider {
  const silent = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
  return {
    getTracer(name, version) {
      const inner = trace.getTracer(name, version);
      return {
        startSpan(spanName, spanOptions, parent) {
          if (prefixes.some((p) => spanName.startsWith(p))) return silent;
          return inner.startSpan(spanName, spanOptions, parent);
        },
        startActiveSpan: inner.startActiveSpan.bind(inner) as Tracer["startActiveSpan"],
      };
    },
  };
}
