/**
 * Bearer tokens from external identity providers (`AUTH_ISSUERS`): verified
 * with jose against each issuer's JWKS, which is found through OpenID
 * discovery unless configured, cached, refetched on an unknown `kid` at most
 * once per cooldown (`AUTH_JWKS_COOLDOWN_SECONDS`, so made-up kids cannot make
 * us hammer the provider), and refreshed in the background when
 * old, so cached keys keep working while the provider is unreachable.
 *
 * @module
 */
import {
  createLocalJWKSet,
  decodeJwt,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import type { Config } from "../../config.ts";
import type { TrustedIssuer } from "../../lib/env_fields.ts";

/** Asymmetric algorithms only: an HS256 token "signed" with a public key never passes. */
const ALGORITHMS = ["RS256", "ES256", "EdDSA"];
/** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. */
export const CLOCK_SKEW_SECONDS = 30;
// Providers rotate keys on the scale of days; a key removed from the set stops working this soon.
const MAX_AGE_MS = 10 * 60_000;
const FETCH_TIMEOUT_MS = 5_000;

/** The provider's keys (or discovery document) could not be fetched: a 503 for this request. */
export class KeysUnavailableError extends Error {
  constructor(issuer: string, cause: unknown) {
    super(`The keys of ${issuer} could not be fetched: ${(cause as Error)?.message ?? cause}`);
    this.name = "KeysUnavailableError";
  }
}

/** A verified external token: its issuer's settings and its claims. */
export interface ExternalToken {
  issuer: TrustedIssuer;
  claims: JWTPayload & { sub: string };
}

/** Verifies tokens of the configured issuers. */
export interface IssuerVerifier {
  /**
   * Undefined when `token` does not claim a configured issuer (it may be
   * Tusk's own); the verified token when it does; throws `InvalidExternalToken`
   * for a bad one and {@link KeysUnavailableError} when its keys cannot be had.
   */
  verify(token: string): Promise<ExternalToken | undefined>;
}

/** A token that names a trusted issuer but is not valid; the message is for logs. */
export class InvalidExternalToken extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "InvalidExternalToken";
  }
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    headers: { Accept: "application/json" },
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url} answered ${res.status}`);
  }
  return await res.json();
}

/** One issuer's key cache. */
function keyCache(issuer: TrustedIssuer, cooldownMs: number) {
  let jwksUrl = issuer.jwksUrl;
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = 0;
  // When a token's unknown kid last made us refetch, and when a background refresh last began.
  let lastUnknownKid = -Infinity;
  let lastRefresh = -Infinity;
  let inFlight: Promise<void> | undefined;

  function refetch(): Promise<void> {
    inFlight ??= (async () => {
      try {
        if (jwksUrl === undefined) {
          const base = issuer.issuer.replace(/\/$/, "");
          const doc = await fetchJson(`${base}/.well-known/openid-configuration`) as {
            jwks_uri?: unknown;
          };
          if (typeof doc?.jwks_uri !== "string") throw new Error("discovery has no jwks_uri");
          jwksUrl = doc.jwks_uri;
        }
        const set = await fetchJson(jwksUrl) as JSONWebKeySet;
        if (!Array.isArray(set?.keys)) throw new Error(`${jwksUrl} is not a JWKS`);
        keys = createLocalJWKSet(set);
        fetchedAt = Date.now();
      } catch (error) {
        throw new KeysUnavailableError(issuer.issuer, error);
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  }

  return async function key(
    header: Parameters<ReturnType<typeof createLocalJWKSet>>[0],
    token: Parameters<ReturnType<typeof createLocalJWKSet>>[1],
  ) {
    const now = Date.now();
    if (keys === undefined) await refetch();
    else if (now - fetchedAt > MAX_AGE_MS && now - lastRefresh > cooldownMs) {
      // In the background: while the provider is down, the keys we have keep working.
      lastRefresh = now;
      refetch().catch(() => {});
    }
    try {
      return await keys!(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A kid we have not seen: the provider may have rotated. At most once per cooldown.
      if (Date.now() - lastUnknownKid < cooldownMs) throw error;
      lastUnknownKid = Date.now();
      await refetch();
      return await keys!(header, token);
    }
  };
}

/**
 * A verifier for `issuers`; with none configured it answers undefined for
 * every token.
 *
 * @example
 * ```ts
 * const external = await issuerVerifier(config.authIssuers, { cooldownSeconds: 30 }).verify(token);
 * ```
 */
export function issuerVerifier(
  issuers: readonly TrustedIssuer[],
  options: { cooldownSeconds: number },
): IssuerVerifier {
  const cooldownMs = options.cooldownSeconds * 1000;
  const byIssuer = new Map(
    issuers.map((i) => [i.issuer, { issuer: i, key: keyCache(i, cooldownMs) }]),
  );
  return {
    async verify(token) {
      if (byIssuer.size === 0) return undefined;
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        return undefined;
      }
      const entry = typeof iss === "string" ? byIssuer.get(iss) : undefined;
      if (entry === undefined) return undefined;
      try {
        const { payload } = await jwtVerify(token, entry.key, {
          issuer: entry.issuer.issuer,
          audience: entry.issuer.audience,
          algorithms: ALGORITHMS,
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ["sub", "exp"],
        });
        return { issuer: entry.issuer, claims: payload as ExternalToken["claims"] };
      } catch (error) {
        if (error instanceof KeysUnavailableError) throw error;
        if (error instanceof errors.JOSEError) throw new InvalidExternalToken(error.code);
        throw error;
      }
    },
  };
}

const verifiers = new WeakMap<readonly TrustedIssuer[], IssuerVerifier>();

/** The one verifier (and key cache) of a configuration's issuers. */
export function verifierFor(
  config: Pick<Config, "authIssuers" | "authJwksCooldownSeconds">,
): IssuerVerifier {
  let verifier = verifiers.get(config.authIssuers);
  if (verifier === undefined) {
    verifier = issuerVerifier(config.authIssuers, {
      cooldownSeconds: config.authJwksCooldownSeconds,
    });
    verifiers.set(config.authIssuers, verifier);
  }
  return verifier;
}
