/**
 * Authentication middleware with the FastAPI template's answers: 401 without
 * a bearer token, 403 for any bad or revoked token, 404 for a vanished user,
 * 400 for an inactive one, 403 for a non-superuser on superuser routes. A
 * token from a trusted external provider (`AUTH_ISSUERS`) works the same way.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Sql } from "../db/client.ts";
import { addHistoryMetadata } from "../db/history_context.ts";
import { getUserById } from "../db/users.ts";
import { HttpError } from "../lib/http_error.ts";
import type { AppEnv } from "./router.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logging.ts";
import { externalUser } from "../services/auth/external_user.ts";
import {
  InvalidExternalToken,
  type IssuerVerifier,
  KeysUnavailableError,
  verifierFor,
} from "../services/auth/issuers.ts";
import { InvalidTokenError, verifyAccessToken } from "../lib/jwt.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function credentialsError(): HttpError {
  return new HttpError(403, "Could not validate credentials");
}

/**
 * Resolves the bearer token to an active user and stores it as `c.get("user")`,
 * with when the token's login happened as `c.get("authenticatedAt")`.
 *
 * @example
 * ```ts
 * createRoute({ method: "get", path: "/me", middleware: [currentUser(deps)], ... });
 * ```
 */
export function currentUser(
  deps: {
    sql: Sql;
    config: Pick<
      Config,
      | "secretKey"
      | "authIssuers"
      | "authAutoProvision"
      | "authJwksCooldownSeconds"
    >;
    log: Logger;
  },
): MiddlewareHandler<AppEnv> {
  // No providers configured (the usual case): Tusk's tokens skip the external check entirely.
  const issuers = deps.config.authIssuers.length > 0 ? verifierFor(deps.config) : undefined;
  return async function currentUser(c, next) {
    const header = c.req.header("Authorization");
    // As OAuth2PasswordBearer: split at the first space; the scheme must be "bearer".
    const space = header?.indexOf(" ") ?? -1;
    const scheme = header === undefined ? "" : space < 0 ? header : header.slice(0, space);
    if (!header || scheme.toLowerCase() !== "bearer") {
      throw new HttpError(401, "Not authenticated", { "WWW-Authenticate": "Bearer" });
    }
    const token = space < 0 ? "" : header.slice(space + 1).trim();
    const external = issuers === undefined ? undefined : await verifyExternal(issuers, token);
    if (external === undefined) {
      const { user, claims } = await tuskTokenUser(deps.sql, deps.config.secretKey, token);
      c.set("user", user);
      c.set("authenticatedAt", new Date(claims.iat * 1000));
    } else {
      c.set("user", await externalUser(deps.sql, deps.config, external, deps.log));
      // OpenID's auth_time is when the user logged in; a refreshed token's iat is later.
      const at = external.claims.auth_time ?? external.claims.iat;
      c.set("authenticatedAt", typeof at === "number" ? new Date(at * 1000) : undefined);
    }
    addHistoryMetadata({ user_id: c.get("user").id });
    await next();
  };
}

/** The user of one of Tusk's own tokens (verified, not revoked, active), and its claims. */
async function tuskTokenUser(sql: Sql, secret: string, token: string) {
  let claims;
  try {
    claims = await verifyAccessToken(secret, token);
  } catch (error) {
    if (error instanceof InvalidTokenError) throw credentialsError();
    throw error;
  }
  if (!UUID.test(claims.sub)) throw credentialsError();
  const user = await getUserById(sql, claims.sub);
  if (user === undefined) throw new HttpError(404, "User not found");
  if (user.token_version !== claims.ver) throw credentialsError();
  if (!user.is_active) throw new HttpError(400, "Inactive user");
  return { user, claims };
}

/** A token of a configured issuer, verified; undefined for any other (Tusk's own) token. */
async function verifyExternal(issuers: IssuerVerifier, token: string) {
  try {
    return await issuers.verify(token);
  } catch (error) {
    if (error instanceof InvalidExternalToken) throw credentialsError();
    if (error instanceof KeysUnavailableError) {
      throw new HttpError(
        503,
        "The identity provider's signing keys could not be fetched; try again shortly",
        { "Retry-After": "5" },
      );
    }
    throw error;
  }
}

/** After {@link currentUser}: only superusers pass. */
export function superuserOnly(): MiddlewareHandler<AppEnv> {
  return async function superuserOnly(c, next) {
    if (!c.get("user").is_superuser) {
      throw new HttpError(403, "The user doesn't have enough privileges");
    }
    await next();
  };
}
