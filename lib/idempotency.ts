/**
 * `Idempotency-Key` on authenticated POST, PUT, PATCH and DELETE requests, as
 * Stripe has it. The first request with a key runs in one transaction with
 * the storing of its response, so a crash leaves neither the write nor the
 * key; a retry with the same key and the same request gets that response
 * again, with `Idempotent-Replayed: true`. The same key with a different
 * request is 422; a retry while the first is still running is 409. Responses
 * of 500 and above are not kept (their transaction rolls back), so the client
 * can retry them. Without the header nothing changes.
 *
 * @module
 */
import type { Context, Next } from "hono";
import { inAmbientTransaction } from "../db/ambient.ts";
import type { Sql } from "../db/client.ts";
import {
  claimKey,
  findResponse,
  type StoredResponse,
  storeResponse,
} from "../db/idempotency_keys.ts";
import { HttpError } from "./errors.ts";
import type { AppEnv } from "./http.ts";

/** The request header, and the one marking a replayed response. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const REPLAYED_HEADER = "Idempotent-Replayed";

/** Methods that honour the header. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const KEY = /^[\x21-\x7e]{1,255}$/;
// Only these describe the response itself; the rest belong to the request that made it.
const KEPT_HEADERS = ["content-type", "location"];

/** Thrown inside the transaction to roll it back without an error of its own. */
const ROLLBACK = Symbol("rollback");

/** What {@link runIdempotently} needs. */
export interface IdempotencyDeps {
  sql: Sql;
  config: { idempotencyTtlHours: number };
}

/**
 * Runs the rest of an authenticated request (`next`) under its
 * `Idempotency-Key`, when it has one; called once the user is known.
 */
export async function runIdempotently(
  deps: IdempotencyDeps,
  c: Context<AppEnv>,
  next: Next,
): Promise<void> {
  const key = c.req.header(IDEMPOTENCY_HEADER);
  if (key === undefined || !IDEMPOTENT_METHODS.has(c.req.method)) return await next();
  if (!KEY.test(key)) {
    throw new HttpError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters");
  }
  const userId = c.get("user").id;
  const hash = await requestHash(c);
  let replay: StoredResponse | undefined;
  try {
    await deps.sql.begin(async (tx) => {
      if (!(await claimKey(tx, userId, key))) {
        throw new HttpError(
          409,
          "A request with this Idempotency-Key is still in progress; retry after it completes",
        );
      }
      const stored = await findResponse(tx, userId, key, deps.config.idempotencyTtlHours);
      if (stored !== undefined) {
        if (stored.request_hash !== hash) {
          throw new HttpError(
            422,
            "This Idempotency-Key was already used with a different request",
          );
        }
        replay = stored;
        return;
      }
      await inAmbientTransaction(tx, next);
      const res = c.res;
      if (res.status >= 500) throw ROLLBACK;
      const headers: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = res.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      await storeResponse(tx, {
        user_id: userId,
        key,
        request_hash: hash,
        method: c.req.method,
        path: c.req.path,
        status: res.status,
        headers,
        body: await res.clone().text(),
      });
    });
  } catch (error) {
    if (error !== ROLLBACK) throw error;
  }
  if (replay !== undefined) {
    c.res = new Response(replay.status === 204 ? null : replay.body, {
      status: replay.status,
      headers: { ...replay.headers, [REPLAYED_HEADER]: "true" },
    });
  }
}

/** SHA-256 of what makes two requests the same: method, path, query and body. */
async function requestHash(c: Context<AppEnv>): Promise<string> {
  const url = new URL(c.req.url);
  const text = `${c.req.method}\n${url.pathname}\n${url.search}\n${await c.req.text()}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
