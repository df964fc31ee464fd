/**
 * Password hashing: argon2id for every new hash; bcrypt hashes imported from
 * Django or FastAPI apps still verify and are flagged for rehashing.
 *
 * @module
 */
import { hash, verify } from "@node-rs/argon2";
import bcrypt from "bcryptjs";
import { semaphore } from "./semaphore.ts";
import { inSpan } from "./telemetry.ts";

// Algorithm.Argon2id is an ambient const enum the type checker will not let us read: its value is 2.
const ARGON2ID = 2;
/** OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane (~50 ms here). */
const ARGON2 = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const CURRENT_PARAMS =
  `$argon2id$v=19$m=${ARGON2.memoryCost},t=${ARGON2.timeCost},p=${ARGON2.parallelism}$`;
// bcrypt reads only the first 72 bytes; longer passwords must not verify by prefix.
const BCRYPT_MAX_BYTES = 72;

/**
 * Hashes and verifications running at once in this process: one per core.
 * Each argon2id takes 19 MiB and a core for ~50 ms, so a burst of logins
 * queues here instead of taking memory and every core at once.
 */
export const passwordWork = semaphore(navigator.hardwareConcurrency);

/** Result of {@link verifyPassword}. */
export interface Verification {
  ok: boolean;
  /** True when the stored hash is not current argon2id and should be replaced. */
  needsRehash: boolean;
}

/**
 * Hashes with argon2id. The password is used exactly as given: no trimming,
 * no Unicode normalisation, no truncation.
 *
 * @example
 * ```ts
 * const stored = await hashPassword("correct horse battery staple");
 * ```
 */
export function hashPassword(password: string): Promise<string> {
  // The slowest step of a login or sign-up, by design: traced so it shows in the request's trace.
  return inSpan(
    "password.hash",
    { attributes: { "tusk.password.algorithm": "argon2id" } },
    () => passwordWork.run(() => hash(password, ARGON2)),
  );
}

/**
 * Checks `password` against an argon2 or bcrypt (`$2a$`, `$2b$`, `$2y$`) hash.
 *
 * @example
 * ```ts
 * const { ok, needsRehash } = await verifyPassword("secret", user.hashed_password);
 * ```
 */
export function verifyPassword(password: string, stored: string): Promise<Verification> {
  const algorithm = stored.startsWith("$argon2")
    ? "argon2"
    : stored.startsWith("$2")
    ? "bcrypt"
    : "none";
  return inSpan(
    "password.verify",
    { attributes: { "tusk.password.algorithm": algorithm } },
    () => passwordWork.run(() => verifyAgainst(password, stored)),
  );
}

async function verifyAgainst(password: string, stored: string): Promise<Verification> {
  if (stored.startsWith("$argon2")) {
    const ok = await verify(stored, password).catch(() => false);
    return { ok, needsRehash: ok && !stored.startsWith(CURRENT_PARAMS) };
  }
  if (/^\$2[aby]\$\d\d\$/.test(stored)) {
    if (new TextEncoder().encode(password).length > BCRYPT_MAX_BYTES) {
      return { ok: false, needsRehash: false };
    }
    // $2y$ (PHP) and $2b$ are the same algorithm.
    const ok = await bcrypt.compare(password, stored.replace(/^\$2y\$/, "$2b$")).catch(() => false);
    return { ok, needsRehash: ok };
  }
  return { ok: false, needsRehash: false };
}

let dummy: Promise<string> | undefined;

/**
 * Spends the time of a real verification, so a login for an unknown email
 * takes as long as one for a known email with a wrong password.
 */
export async function verifyDummy(password: string): Promise<void> {
  dummy ??= hashPassword(crypto.randomUUID());
  await verifyPassword(password, await dummy);
}
