/**
 * Zod parsers for environment variables, each naming its variable in its
 * messages (`PORT: expected an integer from 1 to 65535, got "x"`), for
 * `config.ts` to compose: integers, booleans, URLs, cron expressions,
 * origin lists, a Sentry DSN and the list of trusted identity providers.
 *
 * @module
 */
import { CronExpressionParser } from "cron-parser";
import { z } from "zod";

/** Text with surrounding space trimmed; empty is unset. */
export const optionalText = z.string().trim().transform((v) => v === "" ? undefined : v).optional();

/** An integer from `min` to `max`; unset gives `fallback`. */
export function integer(name: string, min: number, max: number, fallback: number) {
  return z.string().trim().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({
        code: "custom",
        message: `${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      });
      return z.NEVER;
    }
    return n;
  });
}

/**
 * A cron expression as pg-boss's scheduler reads it (5 fields, or 6 with
 * seconds), or `off`; unset gives `fallback`. Checked here, so a bad one stops
 * every role at start rather than only the scheduler.
 */
export function cron(name: string, fallback: string) {
  return z.string().trim().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return fallback;
    if (raw.toLowerCase() === "off") return undefined;
    const fields = raw.split(/\s+/);
    let reason = fields.length === 5 || fields.length === 6 ? undefined : `${fields.length} fields`;
    if (reason === undefined) {
      try {
        CronExpressionParser.parse(fields.join(" "), { tz: "UTC", strict: false });
      } catch (error) {
        reason = (error as Error).message;
      }
    }
    if (reason !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `${name}: expected a cron expression such as "0 3 * * *" (minute hour ` +
          `day month weekday, UTC) or "off", got ${JSON.stringify(raw)} (${reason})`,
      });
      return z.NEVER;
    }
    return fields.join(" ");
  });
}

/** `true`/`false` (also 1/0, yes/no, on/off); unset gives `fallback`. */
export function boolean(name: string, fallback: boolean) {
  return z.string().trim().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return fallback;
    const v = raw.toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    ctx.addIssue({
      code: "custom",
      message: `${name}: expected true or false, got ${JSON.stringify(raw)}`,
    });
    return z.NEVER;
  });
}

/** A URL with one of `protocols`, trailing slashes dropped. */
export function url(name: string, protocols: string[]) {
  return optionalText.transform((raw, ctx) => {
    if (raw === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      ctx.addIssue({ code: "custom", message: `${name}: not a valid URL` });
      return z.NEVER;
    }
    if (!protocols.includes(parsed.protocol)) {
      ctx.addIssue({
        code: "custom",
        message: `${name}: expected a ${protocols.join(" or ")} URL, got ${parsed.protocol}`,
      });
      return z.NEVER;
    }
    return raw.replace(/\/+$/, "");
  });
}

/** `a,b` or a JSON list `["a","b"]`, as the template accepts. */
export const corsList = optionalText.transform((raw, ctx) => {
  if (raw === undefined) return [];
  let items: unknown = raw.split(",");
  if (raw.startsWith("[")) {
    try {
      items = JSON.parse(raw);
    } catch {
      items = undefined;
    }
  }
  if (!Array.isArray(items) || !items.every((i) => typeof i === "string")) {
    ctx.addIssue({
      code: "custom",
      message: "BACKEND_CORS_ORIGINS: expected comma-separated URLs or a JSON list of strings",
    });
    return z.NEVER;
  }
  const origins = items.map((i) => i.trim().replace(/\/+$/, "")).filter((i) => i !== "");
  for (const origin of origins) {
    if (!URL.canParse(origin)) {
      ctx.addIssue({
        code: "custom",
        message: `BACKEND_CORS_ORIGINS: ${JSON.stringify(origin)} is not a valid URL`,
      });
    }
  }
  return origins;
});

/** An external identity provider (one entry of `AUTH_ISSUERS`). */
export interface TrustedIssuer {
  /** Exactly the tokens' `iss`. */
  issuer: string;
  /** What the tokens' `aud` must contain (any one of these). */
  audience: string[];
  /** Where its keys are; undefined: found through `/.well-known/openid-configuration`. */
  jwksUrl: string | undefined;
  /** The claim holding the user's email (for provisioning); default `email`. */
  emailClaim: string;
}

/** A Sentry DSN: http(s), a public key, a host, and a project id at the end of the path. */
export function isDsn(value: string): boolean {
  try {
    const url = new URL(value);
    return /^https?:$/.test(url.protocol) && url.username !== "" && /\/\d+$/.test(url.pathname);
  } catch {
    return false;
  }
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** `https:` URL, or `http:` on loopback (a provider run for development or tests). */
function providerUrl(value: unknown): URL | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const url = new URL(value);
    if (
      url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname))
    ) {
      return url;
    }
  } catch {
    // Not a URL.
  }
  return undefined;
}

/** `AUTH_ISSUERS`: a JSON array of `{issuer, audience, jwks_url?, email_claim?}`. */
export function parseIssuers(raw: string | undefined, ctx: z.RefinementCtx): TrustedIssuer[] {
  if (raw === undefined) return [];
  const problem = (message: string) => {
    ctx.addIssue({ code: "custom", message: `AUTH_ISSUERS: ${message}` });
    return [];
  };
  let entries: unknown;
  try {
    entries = JSON.parse(raw);
  } catch {
    return problem('expected JSON: [{"issuer": "https://...", "audience": "..."}]');
  }
  if (!Array.isArray(entries)) return problem("expected a JSON array of issuers");
  const issuers: TrustedIssuer[] = [];
  for (const [i, entry] of entries.entries()) {
    const e = (entry ?? {}) as Record<string, unknown>;
    const audience = typeof e.audience === "string" ? [e.audience] : e.audience;
    if (providerUrl(e.issuer) === undefined) {
      return problem(`entry ${i}: "issuer" must be an https URL (http only on loopback)`);
    }
    if (
      !Array.isArray(audience) || audience.length === 0 ||
      !audience.every((a) => typeof a === "string" && a !== "")
    ) {
      return problem(`entry ${i}: "audience" must be a string or a list of strings`);
    }
    if (e.jwks_url !== undefined && providerUrl(e.jwks_url) === undefined) {
      return problem(`entry ${i}: "jwks_url" must be an https URL (http only on loopback)`);
    }
    if (
      e.email_claim !== undefined && (typeof e.email_claim !== "string" || e.email_claim === "")
    ) {
      return problem(`entry ${i}: "email_claim" must be a claim name`);
    }
    issuers.push({
      issuer: e.issuer as string,
      audience: audience as string[],
      jwksUrl: e.jwks_url as string | undefined,
      emailClaim: (e.email_claim as string | undefined) ?? "email",
    });
  }
  return issuers;
}
