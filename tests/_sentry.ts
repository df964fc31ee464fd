/**
 * A stand-in for Sentry's ingest: an HTTP server that accepts the SDK's
 * envelopes and keeps their raw bytes and the events in them.
 *
 * @module
 */

/** One event as it arrived. */
export interface ReceivedEvent {
  level?: string;
  tags?: Record<string, string>;
  user?: Record<string, unknown>;
  contexts?: Record<string, Record<string, unknown>>;
  exception?: { values: { type: string; value: string }[] };
  environment?: string;
  release?: string;
}

/** A running receiver; dispose to stop it. */
export interface SentryReceiver extends AsyncDisposable {
  /** The DSN that points the SDK here. */
  dsn: string;
  /** Every envelope's bytes, decoded as text, in arrival order. */
  raw(): string[];
  /** Every event received so far. */
  events(): ReceivedEvent[];
  /** Resolves once at least `count` events have arrived; rejects after `ms`. */
  waitFor(count: number, ms?: number): Promise<ReceivedEvent[]>;
}

/** Starts a receiver on a free loopback port. */
export function startSentryReceiver(): SentryReceiver {
  const raw: string[] = [];
  const events: ReceivedEvent[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const gzip = req.headers.get("content-encoding") === "gzip";
    const text = req.body === null
      ? ""
      : gzip
      ? await new Response(req.body.pipeThrough(new DecompressionStream("gzip") as never)).text()
      : await req.text();
    raw.push(text);
    // An envelope: a header line, then item header / item payload pairs.
    const lines = text.split("\n");
    for (let i = 1; i + 1 < lines.length; i += 2) {
      const item = JSON.parse(lines[i]!);
      if (item.type === "event") events.push(JSON.parse(lines[i + 1]!));
    }
    return Response.json({});
  });
  return {
    dsn: `http://public@127.0.0.1:${server.addr.port}/1`,
    raw: () => raw,
    events: () => events,
    async waitFor(count, ms = 10_000) {
      const until = Date.now() + ms;
      while (events.length < count) {
        if (Date.now() > until) throw new Error(`expected ${count} events, got ${events.length}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return events;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
