/**
 * HS256 access tokens, signed and verified with jose (the one JWT library
 * here; external providers' tokens use it too). The header must be exactly
 * HS256/JWT: `alg: none`, other algorithms, bad signatures, expired,
 * malformed, two-part and empty tokens are all rejected the same way.
 *
 * A client sends the same token with every request until it expires, so a
 * token that verified is remembered (the exact string, per secret, up to
 * {@link VERIFIED_TOKENS}): the next request skips the HMAC and only checks
 * the expiry again. The user behind it is still loaded (and its token version
 * checked) on every request, so revocation is unchanged.
 *
 * @module
 */
import { errors, jwtVerify, SignJWT } from "jose";

/** Claims of a Tusk access token. */
export interface AccessClaims {
  /** User id. */
  sub: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Always `access`; other token kinds can never pass as one. */
  type: "access";
  /** The user's token version at issue time; a bump revokes the token. */
  ver: number;
}

/** Any reason a token is not acceptable; its message is for logs only. */
export class InvalidTokenError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "InvalidTokenError";
  }
}

const ALGORITHM = "HS256";
const keys = new Map<string, Promise<CryptoKey>>();

/** How many verified tokens are remembered per secret (about 0.5 KB each). */
export const VERIFIED_TOKENS = 10_000;
// Per secret: token → its claims, oldest first (a Map keeps insertion order).
const verified = new Map<string, Map<string, Readonly<AccessClaims>>>();

function remember(secret: string, token: string, claims: AccessClaims): void {
  let tokens = verified.get(secret);
  if (tokens === undefined) verified.set(secret, tokens = new Map());
  if (tokens.size >= VERIFIED_TOKENS) tokens.delete(tokens.keys().next().value!);
  tokens.set(token, Object.freeze(claims));
}

/** Seconds since the epoch, as jose counts them for `exp`. */
function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** `secret` as an HMAC key, imported once per secret (an import per token would cost more). */
function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, key);
  }
  return key;
}

/**
 * Signs an access token for `userId` valid for `minutes`.
 *
 * @example
 * ```ts
 * const token = await signAccessToken(config.secretKey, { sub: user.id, ver: 0 }, 60);
 * ```
 */
export async function signAccessToken(
  secret: string,
  subject: { sub: string; ver: number },
  minutes: number,
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const claims: AccessClaims = {
    sub: subject.sub,
    exp: iat + minutes * 60,
    iat,
    type: "access",
    ver: subject.ver,
  };
  // Claims in this order and header {alg, typ}: the same bytes as tokens issued before jose.
  return await new SignJWT({ ...claims }).setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
    .sign(await keyOf(secret));
}

/** Verifies signature, header, expiry and type; throws {@link InvalidTokenError} otherwise. */
export async function verifyAccessToken(secret: string, token: string): Promise<AccessClaims> {
  const known = verified.get(secret)?.get(token);
  if (known !== undefined) {
    // As jose: expired when exp is now or earlier.
    if (known.exp <= now()) {
      verified.get(secret)!.delete(token);
      throw new InvalidTokenError("ERR_JWT_EXPIRED");
    }
    return known;
  }
  let claims: Record<string, unknown>;
  try {
    // Pinned: the token never chooses its own algorithm.
    const { payload, protectedHeader } = await jwtVerify(token, await keyOf(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ["sub", "exp", "iat"],
    });
    if (protectedHeader.typ !== undefined && protectedHeader.typ !== "JWT") {
      throw new InvalidTokenError("not a JWT");
    }
    claims = payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof InvalidTokenError) throw error;
    if (error instanceof errors.JOSEError) throw new InvalidTokenError(error.code);
    throw error;
  }
  if (
    typeof claims.sub !== "string" || typeof claims.exp !== "number" ||
    typeof claims.iat !== "number" || typeof claims.ver !== "number"
  ) {
    throw new InvalidTokenError("missing claims");
  }
  if (claims.type !== "access") throw new InvalidTokenError("not an access token");
  remember(secret, token, claims as unknown as AccessClaims);
  return claims as unknown as AccessClaims;
}
