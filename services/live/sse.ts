/**
 * Server-Sent Events framing: each event is `id`, `event` and one `data`
 * line of JSON (JSON has no raw newlines, so one line always suffices).
 *
 * @module
 */

const encoder = new TextEncoder();

/** One event, encoded. */
export function sseEvent(id: number, event: string, data: unknown): Uint8Array {
  return encoder.encode(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * A heartbeat comment; with `id`, it also moves the client's last event id
 * on (an event with no data is not dispatched, but its id is kept).
 */
export function sseHeartbeat(id?: number): Uint8Array {
  return encoder.encode(id === undefined ? ": ping\n\n" : `: ping\nid: ${id}\n\n`);
}

/** The reconnection delay hint, sent first. */
export function sseRetry(ms: number): Uint8Array {
  return encoder.encode(`retry: ${ms}\n\n`);
}
