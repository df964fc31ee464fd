/**
 * Throttling of logins and recovery requests, counted in Postgres so every
 * process shares the counts.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { Sql } from "../../db/client.ts";
import { clear, hit, unhit } from "../../db/rate_limits.ts";
import { HttpError } from "../../lib/http_error.ts";

/** At most `limit` events per `windowSeconds` for one key. */
export interface Policy {
  name: string;
  limit: number;
  windowSeconds: number;
}

/** The throttling policies, with their limits from {@link Config} (`throttle`). */
export interface Policies {
  loginPerAccount: Policy;
  loginPerClient: Policy;
  /** Password resets with a bad token, per client address (login's client limit and window). */
  resetPerClient: Policy;
  recoveryPerEmail: Policy;
  recoveryPerClient: Policy;
}

/**
 * The policies for `limits`. Windows are fixed: the failed-login window per
 * account is short on purpose, so an attacker who hammers a victim's email
 * locks it for 5 minutes at most, not for good; the client window catches one
 * client trying many accounts (or many reset tokens); recovery windows keep a
 * mailbox from flooding.
 */
export function throttlePolicies(limits: Config["throttle"]): Policies {
  return {
    loginPerAccount: { name: "login:account", limit: limits.loginPerAccount, windowSeconds: 300 },
    loginPerClient: { name: "login:client", limit: limits.loginPerClient, windowSeconds: 900 },
    resetPerClient: { name: "reset:client", limit: limits.loginPerClient, windowSeconds: 900 },
    recoveryPerEmail: {
      name: "recovery:email",
      limit: limits.recoveryPerEmail,
      windowSeconds: 3600,
    },
    recoveryPerClient: {
      name: "recovery:client",
      limit: limits.recoveryPerClient,
      windowSeconds: 3600,
    },
  };
}

function keyOf(policy: Policy, subject: string): string {
  return `${policy.name}:${subject.toLowerCase()}`;
}

function tooMany(resetsAt: Date, what: string): HttpError {
  const seconds = Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));
  return new HttpError(429, `Too many ${what}. Try again in ${seconds} seconds.`, {
    "Retry-After": String(seconds),
  });
}

/**
 * Counts one event and throws a 429 when it goes over the limit. Counting
 * comes first, in one statement, so of a concurrent burst at most `limit`
 * get through: check first and count after, and every request of the burst
 * would pass the check.
 */
export async function consume(
  sql: Sql,
  policy: Policy,
  subject: string,
  what: string,
): Promise<void> {
  const count = await hit(sql, keyOf(policy, subject), policy.windowSeconds);
  if (count.hits > policy.limit) throw tooMany(count.resetsAt, what);
}

/** Takes back one event counted by {@link consume} that turned out not to count. */
export async function refund(sql: Sql, policy: Policy, subject: string): Promise<void> {
  await unhit(sql, keyOf(policy, subject));
}

/** Forgets `subject`'s count under `policy`. */
export async function reset(sql: Sql, policy: Policy, subject: string): Promise<void> {
  await clear(sql, keyOf(policy, subject));
}
