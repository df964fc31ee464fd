/**
 * Random tokens that are stored only as a SHA-256 (reset links, console
 * sessions): what the database holds cannot be replayed.
 *
 * @module
 */

// 256 bits: well past the 128 an attacker would have to guess.
const TOKEN_BYTES = 32;

/** A new random token, base64url without padding. */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The SHA-256 of `token`, as stored. */
export async function digest(token: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
}
