/**
 * Concurrency and rate limits across workers, counted in Postgres.
 *
 * Concurrency is pg-boss's `groupConcurrency`: every job of a limited queue is sent with a group
 * (its key, or one group for the whole queue), and a fetch claims no job whose group already has
 * `limit` running. pg-boss checks that inside the fetch statement, so two workers fetching at the
 * same moment could each see the group free; a concurrency-limited queue's fetches therefore run
 * one at a time, in a transaction holding the queue's advisory lock.
 *
 * Rate limits take their starts from the `rate_limits` counters the login throttle uses: a
 * queue-wide limit before the fetch (so no more is claimed than may start), a per-key one after
 * it, putting back (with no retry used) the jobs whose key has no start left until its window
 * ends. Each take locks its counter's row, so rate-limited fetches need no lock of their own.
 *
 * @module
 */
import type { JobWithMetadata, PgBoss } from "pg-boss";
import type { Sql, Tx } from "../db/client.ts";
import { giveBack, take } from "../db/rate_limits.ts";
import { BOSS_PLANNER_SETTINGS } from "../db/jobs.ts";
import type { Counter } from "@opentelemetry/api";
import { meter } from "../lib/telemetry.ts";
import type { AnyJob, JobSpec } from "./spec.ts";
import { txAdapter } from "./tx_adapter.ts";
import type { z } from "zod";

// Created on first use: the meter provider is set up when the process starts, not at import.
let heldCounter: Counter | undefined;

/** The group of a queue-wide concurrency limit (no key). */
const WHOLE_QUEUE = "*";

/** The group a job is sent with under its queue's concurrency limit, if it has one. */
export function groupOf<S extends z.ZodType>(
  spec: JobSpec<S>,
  data: z.infer<S>,
): { id: string } | undefined {
  const limit = spec.concurrency;
  if (limit === undefined) return undefined;
  return { id: limit.key ? String(limit.key(data)) : WHOLE_QUEUE };
}

/** Whether a queue's fetches must go through {@link limitedFetch}. */
export function isLimited(job: AnyJob): boolean {
  return job.concurrency !== undefined || job.rateLimit !== undefined;
}

/** What a limited fetch claimed, and when a rate-limited queue may start more. */
export interface LimitedBatch {
  /** The jobs to run now. */
  jobs: JobWithMetadata<unknown>[];
  /** How many the fetch claimed, the ones a per-key rate limit put back included. */
  claimed: number;
  /** Set when a queue-wide rate limit is spent: no job of the queue may start before then. */
  retryAt?: Date;
}

/** The database pg-boss runs a fetch on (a transaction here), possibly wrapped for tracing. */
type FetchDb = ReturnType<PgBoss["getDb"]>;

/** What {@link limitedFetch} takes. */
export interface LimitedFetch {
  sql: Sql;
  boss: PgBoss;
  job: AnyJob;
  want: number;
  /** Lets tracing read the trace context pg-boss returns with each job. */
  wrapDb?: (db: FetchDb) => FetchDb;
}

/**
 * Fetches up to `want` jobs of a limited queue, within its concurrency and rate limits. Only a
 * concurrency limit needs the fetches serialized; a rate limit alone counts on the counters'
 * own row locks, and its fetches run side by side like any other.
 */
export async function limitedFetch(input: LimitedFetch): Promise<LimitedBatch> {
  if (input.job.concurrency === undefined) return await fetchWithin(input.sql, input);
  return await input.sql.begin(async (tx) => {
    // One fetch of this queue at a time, planned as on pg-boss's own connections.
    const settings = Object.entries(BOSS_PLANNER_SETTINGS);
    await tx`
      select pg_advisory_xact_lock(hashtextextended(${`tusk-fetch:${input.job.name}`}, 0)),
        (select count(set_config(name, value, true))
         from unnest(${settings.map(([n]) => n)}::text[], ${settings.map(([, v]) => v)}::text[])
           as s (name, value))`;
    return await fetchWithin(tx, input, tx);
  });
}

/** The fetch itself, its rate-limit takes on `db`; on transaction `tx` when one is given. */
async function fetchWithin(db: Sql | Tx, input: LimitedFetch, tx?: Tx): Promise<LimitedBatch> {
  const { boss, job, want } = input;
  const rate = job.rateLimit;
  const rateKey = (key: string) => `job:${job.name}:${key}`;
  let batch = want;
  let retryAt: Date | undefined;
  if (rate && !rate.key) {
    const grant = await take(db, rateKey(WHOLE_QUEUE), {
      want,
      limit: rate.limit,
      windowSeconds: rate.perSeconds,
    });
    batch = grant.granted;
    if (batch < want) retryAt = grant.resetsAt;
    if (batch === 0) return { jobs: [], claimed: 0, retryAt };
  }
  const fetchDb: FetchDb = tx ? txAdapter(tx) : boss.getDb();
  const jobs = await boss.fetch(job.name, {
    batchSize: batch,
    includeMetadata: true,
    ...(job.concurrency ? { groupConcurrency: job.concurrency.limit } : {}),
    db: input.wrapDb ? input.wrapDb(fetchDb) : fetchDb,
  });
  if (rate && !rate.key) {
    await giveBack(db, rateKey(WHOLE_QUEUE), batch - jobs.length);
    return { jobs, claimed: jobs.length, retryAt };
  }
  if (!rate?.key) return { jobs, claimed: jobs.length };
  return { jobs: await perKeyRate(db, job, jobs, rateKey), claimed: jobs.length };
}

/** Keeps the jobs whose key has a start left in its window; puts the rest back until it ends. */
async function perKeyRate(
  tx: Sql | Tx,
  job: AnyJob,
  jobs: JobWithMetadata<unknown>[],
  rateKey: (key: string) => string,
): Promise<JobWithMetadata<unknown>[]> {
  const rate = job.rateLimit!;
  // A payload its schema refuses is the worker's to fail at once; it takes no start.
  const kept: JobWithMetadata<unknown>[] = [];
  const byKey = new Map<string, JobWithMetadata<unknown>[]>();
  for (const fetched of jobs) {
    const parsed = job.schema.safeParse(fetched.data);
    if (!parsed.success) {
      kept.push(fetched);
      continue;
    }
    const key = String(rate.key!(parsed.data));
    byKey.set(key, [...(byKey.get(key) ?? []), fetched]);
  }
  for (const [key, group] of byKey) {
    const grant = await take(tx, rateKey(key), {
      want: group.length,
      limit: rate.limit,
      windowSeconds: rate.perSeconds,
    });
    kept.push(...group.slice(0, grant.granted));
    const held = group.slice(grant.granted);
    if (held.length === 0) continue;
    (heldCounter ??= meter().createCounter("tusk.jobs.rate_limited", {
      description: "Jobs a fetch claimed and put back to wait: their key's rate limit was spent.",
      unit: "{job}",
    })).add(held.length, { "messaging.destination.name": job.name });
    // Back to waiting until the key's window ends, as if never claimed (pg-boss counts a retry
    // only when started_on is set), so the next fetch passes over them to other keys.
    await tx`
      update pgboss.job set state = 'created', started_on = null, heartbeat_on = null,
        start_after = ${grant.resetsAt}
      where name = ${job.name} and id = any(${held.map((j) => j.id)}::uuid[]) and state = 'active'`;
  }
  return kept;
}
