/**
 * App channels: durable pub/sub in Postgres. Code publishes a JSON payload
 * to a named channel (`kind:key`, e.g. `orders:42`), inside its own
 * transaction when it has one; clients follow channels on the event stream
 * with the same ids and replay as table changes.
 *
 * Who may follow a channel is decided per kind, by {@link CHANNEL_KINDS}:
 * add your own kinds there. Superusers may follow any channel of a known kind.
 *
 * @module
 */
import type { Sql, Tx } from "../../db/client.ts";
import { insertMessage } from "../../db/live_events.ts";
import type { Viewer } from "../row_access.ts";

/** `kind:key`: letters, digits, `_ . -` in the kind; also `: @` in the key (as migration 0014). */
export const CHANNEL_PATTERN = /^[A-Za-z0-9_.-]+:[A-Za-z0-9_.:@-]+$/;
/** The longest channel name. */
export const CHANNEL_MAX_LENGTH = 200;
// Messages are read back by every stream that follows them: keep each one a notification,
// not a document (send an id and let clients fetch the rest).
const PAYLOAD_MAX_BYTES = 64 * 1024;

/** A kind of channel and who may follow one of its channels. */
export interface ChannelKind {
  kind: string;
  /** Whether `viewer` may follow channel `kind:key` (superusers always may). */
  canFollow(viewer: Viewer, key: string, sql: Sql): boolean | Promise<boolean>;
}

/** The kinds of channel clients may follow. Add yours here. */
export const CHANNEL_KINDS: ChannelKind[] = [
  // `user:<id>`: messages for one user (notifications), followed by that user.
  { kind: "user", canFollow: (viewer, key) => viewer.id === key },
];

/**
 * Publishes `payload` on `channel`; it reaches followers when (and if) the
 * surrounding transaction commits. Returns the message's event id.
 *
 * @example
 * ```ts
 * await publish(sql, `user:${order.owner_id}`, { type: "order_shipped", order_id: order.id });
 * ```
 */
export async function publish(sql: Sql | Tx, channel: string, payload: unknown): Promise<number> {
  if (!CHANNEL_PATTERN.test(channel) || channel.length > CHANNEL_MAX_LENGTH) {
    throw new TypeError(
      `Channel ${JSON.stringify(channel)} is not a valid name: use kind:key, ` +
        `at most ${CHANNEL_MAX_LENGTH} characters of letters, digits and _ . - (and : @ in the key)`,
    );
  }
  const size = new TextEncoder().encode(JSON.stringify(payload) ?? "").length;
  if (payload === undefined || size > PAYLOAD_MAX_BYTES) {
    throw new TypeError(
      `A channel message must be JSON of at most ${PAYLOAD_MAX_BYTES} bytes (got ${size})`,
    );
  }
  return await insertMessage(sql, channel, payload);
}

/** Why a viewer may not follow some channels: each channel with the reason. */
export type ChannelRefusal = { channel: string; reason: "unknown kind" | "not allowed" };

/** The channels of `channels` that `viewer` may not follow, each with why. */
export async function refusedChannels(
  sql: Sql,
  viewer: Viewer,
  channels: string[],
): Promise<ChannelRefusal[]> {
  const refused: ChannelRefusal[] = [];
  for (const channel of channels) {
    const at = channel.indexOf(":");
    const kind = CHANNEL_KINDS.find((k) => k.kind === channel.slice(0, at));
    if (kind === undefined) refused.push({ channel, reason: "unknown kind" });
    else if (!viewer.is_superuser && !await kind.canFollow(viewer, channel.slice(at + 1), sql)) {
      refused.push({ channel, reason: "not allowed" });
    }
  }
  return refused;
}
