/**
 * `Idempotency-Key` on authenticated POST, PUT, PATCH and DELETE requests, as
 * Stripe has it. The first request with a key runs in one transaction with
 * the storing of its response, so a crash leaves neither the write nor the
 * key; a retry with the same key and the same request gets that response
 * again, with `Idempotent-Replayed: true`. The same key with a different
 * request is 422; a retry while the first is still running is 409. Responses
 * of 500 and above are not kept (their transaction rolls back), so the client
 * can retry them; nor are answers marked `Cache-Control: no-store` (those
 * that carry a credential), which run again. Without the header nothing
 * changes. Jobs the request sends are sent in its transaction, each with a
 * singleton key and an id derived from the key, so none is sent twice.
 *
 * It runs after the route's guards, so a replay passes the same
 * authorization as the first request; and an answer given to a superuser is
 * replayed only while the user still is one (a handler's own checks, such as
 * "owner or superuser", are not run again).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { inAmbientTransaction, inSendScope } from "../db/ambient.ts";
import type { Sql } from "../db/client.ts";
import {
  claimKey,
  findResponse,
  type StoredResponse,
  storeResponse,
} from "../db/idempotency_keys.ts";
import { HttpError } from "../lib/http_error.ts";
import type { AppEnv } from "./router.ts";

/** The request header, and the one marking a replayed response. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const REPLAYED_HEADER = "Idempotent-Replayed";

/** Methods that honour the header. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const KEY = /^[\x21-\x7e]{1,255}$/;
// Only these describe the response itself; the rest belong to the request that made it.
const KEPT_HEADERS = ["content-type", "location"];
// Hashes stored before they were keyed: plain SHA-256, still compared until they expire.
const HMAC_PREFIX = "hmac-sha256:";

/** Thrown inside the transaction to roll it back without an error of its own. */
const ROLLBACK = Symbol("rollback");

/** What {@link idempotent} needs. */
export interface IdempotencyDeps {
  sql: Sql;
  config: { idempotencyTtlHours: number; secretKey: string };
}

/**
 * Runs the rest of the request (the handler) under its `Idempotency-Key`,
 * when it has one. Listed after the route's guards, as its last middleware.
 *
 * @example
 * ```ts
 * createRoute({ method: "post", path: "/items", middleware: [currentUser(deps), idempotent(deps)], ... });
 * ```
 */
export function idempotent(deps: IdempotencyDeps): MiddlewareHandler<AppEnv> {
  // Its own key, derived from SECRET_KEY: request bodies hold passwords, and a plain hash of one
  // is crackable at GPU speed by whoever reads the table.
  const hashKey = createHmac("sha256", deps.config.secretKey)
    .update("tusk idempotency request hash").digest();
  return async function idempotent(c, next) {
    const key = c.req.header(IDEMPOTENCY_HEADER);
    if (key === undefined || !IDEMPOTENT_METHODS.has(c.req.method)) return await next();
    if (!KEY.test(key)) {
      throw new HttpError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    const user = c.get("user");
    const { pathname, search } = new URL(c.req.url);
    // What makes two requests the same: method, path, query and body.
    const request = `${c.req.method}\n${pathname}\n${search}\n${await c.req.text()}`;
    let replay: StoredResponse | undefined;
    try {
      await deps.sql.begin(async (tx) => {
        if (!(await claimKey(tx, user.id, key))) {
          throw new HttpError(
            409,
            "A request with this Idempotency-Key is still in progress; retry after it completes",
          );
        }
        const stored = await findResponse(tx, user.id, key, deps.config.idempotencyTtlHours);
        if (stored !== undefined) {
          if (!sameRequest(stored.request_hash, request, hashKey)) {
            throw new HttpError(
              422,
              "This Idempotency-Key was already used with a different request",
            );
          }
          if (stored.as_superuser && !user.is_superuser) {
            throw new HttpError(403, "The user doesn't have enough privileges");
          }
          replay = stored;
          return;
        }
        // Jobs the handler sends go in this transaction, named after the key: a rolled-back
        // request sends none, and one run again (its answer not kept) sends each only once.
        const scope = createHmac("sha256", hashKey).update(`send\n${user.id}\n${key}`)
          .digest("hex");
        await inAmbientTransaction(tx, () => inSendScope(`idempotency:${scope}`, next));
        const res = c.res;
        if (res.status >= 500) throw ROLLBACK;
        // A credential (a token, a live link) is never kept: the request runs again instead.
        if (/\bno-store\b/i.test(res.headers.get("cache-control") ?? "")) return;
        const headers: Record<string, string> = {};
        for (const name of KEPT_HEADERS) {
          const value = res.headers.get(name);
          if (value !== null) headers[name] = value;
        }
        await storeResponse(tx, {
          user_id: user.id,
          key,
          request_hash: HMAC_PREFIX + createHmac("sha256", hashKey).update(request).digest("hex"),
          as_superuser: user.is_superuser,
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
  };
}

function sameRequest(stored: string, request: string, hashKey: Uint8Array): boolean {
  const expected = stored.startsWith(HMAC_PREFIX)
    ? HMAC_PREFIX + createHmac("sha256", hashKey).update(request).digest("hex")
    : createHash("sha256").update(request).digest("hex");
  const a = new TextEncoder().encode(stored);
  const b = new TextEncoder().encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
