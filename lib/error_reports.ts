/**
 * Error reporting to Sentry (`SENTRY_DSN`), with `@sentry/deno`: every 500
 * of the API, every failed job attempt, and the job system's own errors
 * (the scheduler's cron among them). Without a DSN the SDK is never loaded.
 *
 * What an event carries: the error and its stack, the role, environment and
 * release, tags (request id, method, route; or queue, job id, attempt), the
 * user's id, and the OpenTelemetry trace and span ids when tracing is on.
 * Never a body, a header, an email or a secret: the SDK's default
 * integrations (breadcrumbs, request data) stay off, and every string of an
 * event is scrubbed before it is sent.
 *
 * @module
 */
import { trace } from "@opentelemetry/api";
import { CREDENTIAL_KEY, redact } from "./redact.ts";
import { outsideAnyContext } from "./root_context.ts";

/** Where and as what to report (`config.sentry`); undefined: reporting is off. */
export interface SentrySettings {
  dsn: string;
  environment: string;
  release: string | undefined;
}

/** How bad, and about what. */
export interface ReportContext {
  /** `warning` for a failure that will be retried, `error` otherwise. */
  level: "error" | "warning";
  tags: Record<string, string | number | undefined>;
  /** The user the failure happened for (an id only). */
  userId?: string;
}

type Report = (error: unknown, context: ReportContext) => void;

let bound: Report | undefined;

/**
 * Reports `error` when error reporting is on in this process; does nothing
 * (and costs nothing) otherwise.
 *
 * @example
 * ```ts
 * reportError(error, { level: "error", tags: { request_id: id, route } });
 * ```
 */
export function reportError(error: unknown, context: ReportContext): void {
  bound?.(error, context);
}

// Values under these keys are dropped; strings anywhere are scrubbed of what looks secret.
// Emails too: Sentry is a third party, and the user is sent by id.
const EVENT_SECRET = new RegExp(`${CREDENTIAL_KEY.source}|email|headers?$`, "i");
const SECRET_TEXT: [RegExp, string][] = [
  // A JWT (an access token, or an identity provider's).
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, "[jwt]"],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 [redacted]"],
  // The password of a URL: postgres://user:secret@host/db, smtp://user:secret@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi, "$1[redacted]@"],
  // token=..., password: ..., pwd=..., secret="..." in messages and URLs (reset links among them).
  [
    /\b([\w-]*(?:token|password|passwd|pwd|secret|api[-_]?key|private[-_]?key)[\w-]*)(["']?\s*[=:]\s*["']?)[^\s"'&,;)]+/gi,
    "$1$2[redacted]",
  ],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, "[email]"],
];

/** `text` with JWTs, credentials and email addresses replaced. */
export function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out;
}

/** A deep copy of `value` with secret-named keys dropped and every string scrubbed. */
export function scrub(value: unknown): unknown {
  return redact(value, { key: EVENT_SECRET, text: scrubText });
}

/**
 * Starts error reporting when `SENTRY_DSN` is set (loading the SDK then, and
 * only then); resolves with the function that flushes and stops it.
 */
export async function startErrorReports(
  config: { sentry: SentrySettings | undefined },
  role: string,
): Promise<() => Promise<void>> {
  const settings = config.sentry;
  if (settings === undefined) return () => Promise.resolve();
  // Loaded in the root context: nothing the SDK keeps may hold on to the caller's.
  const Sentry = await outsideAnyContext(() => import("@sentry/deno"));
  Sentry.init({
    dsn: settings.dsn,
    environment: settings.environment,
    release: settings.release,
    // No global handlers, breadcrumbs or request data: we report what we choose, and nothing of
    // a request's headers, cookies or body can reach an event by default.
    defaultIntegrations: false,
    sendDefaultPii: false,
    tracesSampleRate: 0,
    // Sentry would otherwise replace the global OpenTelemetry tracer provider with its own
    // (trace.disable() first), and Deno's exporter would lose every span Tusk makes.
    skipOpenTelemetrySetup: true,
    initialScope: { tags: { role } },
    beforeBreadcrumb: () => null,
    beforeSend(event) {
      const clean = scrub({ ...event, request: undefined, breadcrumbs: undefined }) as typeof event;
      const traceId = event.tags?.["otel.trace_id"];
      const spanId = event.tags?.["otel.span_id"];
      if (typeof traceId === "string" && typeof spanId === "string") {
        clean.contexts = { ...clean.contexts, trace: { trace_id: traceId, span_id: spanId } };
      }
      if (event.user?.id !== undefined) clean.user = { id: event.user.id };
      return clean;
    },
  });
  const report: Report = (error, context) => {
    Sentry.withScope((scope) => {
      scope.setLevel(context.level);
      for (const [k, v] of Object.entries(context.tags)) {
        if (v !== undefined) scope.setTag(k, String(v));
      }
      if (context.userId !== undefined) scope.setUser({ id: context.userId });
      const span = trace.getActiveSpan()?.spanContext();
      if (span !== undefined && span.traceFlags !== 0 && !/^0+$/.test(span.traceId)) {
        scope.setTag("otel.trace_id", span.traceId);
        scope.setTag("otel.span_id", span.spanId);
      }
      Sentry.captureException(error);
    });
  };
  bound = report;
  return async () => {
    if (bound === report) bound = undefined;
    await Sentry.close(2000);
  };
}
