/**
 * Reads that may go to a replica (`DATABASE_REPLICA_URL`): routes marked
 * safe take their pool from {@link readSql}; {@link noteWrites} keeps a user
 * who just wrote on the primary for `REPLICA_STICKY_SECONDS`, so they read
 * their own writes.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Sql } from "../db/client.ts";
import type { AppDeps, AppEnv } from "./router.ts";

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The pool for this request's reads: a replica when there is a current one
 * and the user has not just written, else the primary.
 *
 * @example
 * ```ts
 * const page = await listItems(readSql(deps, c), { skip, limit });
 * ```
 */
export function readSql(deps: Pick<AppDeps, "sql" | "replicas">, c: Context<AppEnv>): Sql {
  if (deps.replicas === undefined) return deps.sql;
  return deps.replicas.reader(c.get("user")?.id);
}

/** After a request that may have written (not GET, HEAD or OPTIONS) and succeeded: note its user. */
export function noteWrites(deps: Pick<AppDeps, "replicas">): MiddlewareHandler<AppEnv> {
  return async function noteWrites(c, next) {
    await next();
    if (READS.has(c.req.method) || c.res.status >= 400) return;
    const user = c.get("user");
    if (user !== undefined) deps.replicas?.noteWrite(user.id);
  };
}
