/**
 * Keeping secrets out of what is shown or sent: the key names that hold
 * credentials, and one deep walk that replaces or drops their values.
 *
 * @module
 */

/** Key names whose values are credentials or lead to one (a reset link is as good as a password). */
export const CREDENTIAL_KEY =
  /pass|pwd|secret|token|auth|cookie|session|credential|api[-_]?key|private[-_]?key|link|html|body/i;

/** What {@link redact} looks for, and what it does on finding it. */
export interface RedactOptions {
  /** Keys whose values are secret. */
  key: RegExp;
  /**
   * Set: a secret key's value (unless null) becomes this. Unset: a secret
   * plain value is dropped, and a secret object is searched further (so a
   * `headers` object keeps its harmless entries).
   */
  replacement?: string;
  /** Applied to every string that stays. */
  text?: (value: string) => string;
}

// Deeper than any job payload or error event; the walk must end on a cycle-free but huge value.
const MAX_DEPTH = 12;

/**
 * A deep copy of `value` with secret-keyed values replaced or dropped.
 *
 * @example
 * ```ts
 * redact({ to: "a@b.c", html: "<a href=...>" }, { key: CREDENTIAL_KEY, replacement: "[redacted]" });
 * ```
 */
export function redact(value: unknown, options: RedactOptions, depth = 0): unknown {
  if (typeof value === "string") return options.text ? options.text(value) : value;
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, options, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (options.key.test(k)) {
      if (options.replacement !== undefined) {
        out[k] = v === null ? null : options.replacement;
        continue;
      }
      if (v === null || typeof v !== "object") continue;
    }
    out[k] = redact(v, options, depth + 1);
  }
  return out;
}
