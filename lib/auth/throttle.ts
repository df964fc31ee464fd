/**
 * Throttling of logins and recovery requests, counted in Postgres so every
 * process shares the counts.
 *
 * @module
 */
import type { Sql } from "../../db/client.ts";
import { clear, hit, peek } from "../../db/rate_limits.ts";
import { HttpError } from "../errors.ts";

/** At most `limit` events per `windowSeconds` for one key. */
export interface Policy {
  name: string;
  limit: number;
  windowSeconds: number;
}

/**
 * Failed logins per account. The window is short on purpose: an attacker who
 * hammers a victim's email locks it for 5 minutes at most, not for good.
 */
export const LOGIN_PER_ACCOUNT: Policy = { name: "login:account", limit: 5, windowSeconds: 300 };
/** Failed logins per client address: catches one client trying many accounts. */
export const LOGIN_PER_CLIENT: Policy = { name: "login:client", limit: 20, windowSeconds: 900 };
/** Recovery emails per address: a mailbox is not flooded. */
export const RECOVERY_PER_EMAIL: Policy = { name: "recovery:email", limit: 3, windowSeconds: 3600 };
/** Recovery requests per client address. */
export const RECOVERY_PER_CLIENT: Policy = {
  name: "recovery:client",
  limit: 10,
  windowSeconds: 3600,
};

function keyOf(policy: Policy, subject: string): string {
  return `${policy.name}:${subject.toLowerCase()}`;
}

function tooMany(resetsAt: Date, what: string): HttpError {
  const seconds = Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));
  return new HttpError(429, `Too many ${what}. Try again in ${seconds} seconds.`, {
    "Retry-After": String(seconds),
  });
}

/** Throws a 429 with `Retry-After` when `subject` has used up its window. */
export async function assertNotThrottled(
  sql: Sql,
  policy: Policy,
  subject: string,
  what: string,
): Promise<void> {
  const current = await peek(sql, keyOf(policy, subject), policy.windowSeconds);
  if (current && current.hits >= policy.limit) throw tooMany(current.resetsAt, what);
}

/** Counts one event for `subject`. */
export async function record(sql: Sql, policy: Policy, subject: string): Promise<void> {
  await hit(sql, keyOf(policy, subject), policy.windowSeconds);
}

/** Counts one event and throws a 429 when it goes over the limit. */
export async function consume(
  sql: Sql,
  policy: Policy,
  subject: string,
  what: string,
): Promise<void> {
  const count = await hit(sql, keyOf(policy, subject), policy.windowSeconds);
  if (count.hits > policy.limit) throw tooMany(count.resetsAt, what);
}

/** Forgets `subject`'s count under `policy`. */
export async function reset(sql: Sql, policy: Policy, subject: string): Promise<void> {
  await clear(sql, keyOf(policy, subject));
}
