/**
 * Streaming replicas for reads that may be a little stale. Every second each
 * replica is checked: it is current when it has replayed the primary's WAL
 * position read just before; its lag is the time since it was last seen
 * current. A replica that does not answer, or lags beyond the limit, is
 * skipped for the primary (one warning when it goes, one line when it is back).
 *
 * @module
 */
import type { Logger } from "../lib/logging.ts";
import { type ClientOptions, createSql, type Sql } from "./client.ts";

// How often replicas are checked: the lag limit is in seconds, so this is its resolution.
const CHECK_MS = 1000;
// How often caughtUpReplica() asks a replica again while it catches up.
const CAUGHT_UP_POLL_MS = 100;

/** Whether the server behind `sql` is a standby, and whether it has replayed the WAL to `lsn`. */
async function replayState(
  sql: Sql,
  lsn: string,
): Promise<{ standby: boolean; caughtUp: boolean }> {
  const [row] = await sql<{ standby: boolean; caught_up: boolean }[]>`
    select pg_is_in_recovery() as standby,
           coalesce(pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn, false) as caught_up`;
  return { standby: row!.standby, caughtUp: row!.caught_up };
}

/** The replicas of one process. */
export interface Replicas {
  /**
   * A pool for a read that may lag: a current replica (in turn), else the
   * primary; the primary for `who` if they wrote within the sticky seconds.
   */
  reader(who?: string): Sql;
  /** `who` wrote: their reads stay on the primary for the sticky seconds. */
  noteWrite(who: string): void;
  close(): Promise<void>;
}

interface Replica {
  url: string;
  sql: Sql;
  /** When it was last seen to have replayed what the primary had written. */
  currentAt: number;
  usable: boolean;
  /** Why it was last skipped, so each change is logged once. */
  problem: string | undefined;
}

/**
 * Opens a pool per replica and starts checking them.
 *
 * @example
 * ```ts
 * const replicas = startReplicas(sql, [url], { maxLagSeconds: 10, stickySeconds: 5, log, client });
 * await replicas.reader(user.id)`select count(*) from items`;
 * ```
 */
export function startReplicas(
  primary: Sql,
  urls: string[],
  options: { maxLagSeconds: number; stickySeconds: number; log: Logger; client: ClientOptions },
): Replicas {
  // Per process: a client behind a load balancer that reads from another process right after a
  // write may read from a replica (bounded by the lag limit).
  const wrote = new Map<string, number>();
  const { log } = options;
  const replicas: Replica[] = urls.map((url) => ({
    url,
    sql: createSql(url, { ...options.client, pooler: "none" }),
    currentAt: 0,
    usable: false,
    problem: "not checked yet",
  }));
  let turn = 0;
  let stopped = false;

  function mark(replica: Replica, problem: string | undefined) {
    const host = new URL(replica.url).host;
    if (problem !== undefined && replica.problem === undefined) {
      log.warn("read replica skipped; reading from the primary", { replica: host, problem });
    } else if (problem === undefined && replica.problem !== undefined) {
      log.info("read replica in use", { replica: host });
    }
    replica.problem = problem;
    replica.usable = problem === undefined;
  }

  async function checkOne(replica: Replica, lsn: string) {
    try {
      const state = await replayState(replica.sql, lsn);
      if (!state.standby) {
        return mark(replica, "it is not a standby (pg_is_in_recovery() is false)");
      }
      const now = Date.now();
      if (state.caughtUp) replica.currentAt = now;
      const lag = (now - replica.currentAt) / 1000;
      mark(
        replica,
        lag > options.maxLagSeconds ? `${lag.toFixed(0)} s behind the primary` : undefined,
      );
    } catch (error) {
      mark(replica, `it does not answer (${error instanceof Error ? error.message : error})`);
    }
  }

  async function check() {
    let lsn: string;
    try {
      const [row] = await primary<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
      lsn = row!.lsn;
    } catch {
      return; // The primary is away: nothing to compare with; reads fail over there anyway.
    }
    await Promise.all(replicas.map((r) => checkOne(r, lsn)));
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  const loop = () => {
    running = check().finally(() => {
      if (!stopped) timer = setTimeout(loop, CHECK_MS);
    });
  };
  loop();

  return {
    reader(who) {
      if (who !== undefined) {
        const at = wrote.get(who);
        if (at !== undefined && Date.now() - at < options.stickySeconds * 1000) return primary;
        if (at !== undefined) wrote.delete(who);
      }
      const usable = replicas.filter((r) => r.usable);
      if (usable.length === 0) return primary;
      return usable[turn++ % usable.length]!.sql;
    },
    noteWrite(who) {
      wrote.set(who, Date.now());
    },
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await Promise.all(replicas.map((r) => r.sql.end({ timeout: 5 })));
    },
  };
}

/** A replica that has replayed a WAL position: see {@link caughtUpReplica}. */
export interface CaughtUp {
  sql: Sql;
  /** host:port, for logs. */
  host: string;
}

/**
 * A one-connection pool on the first of `urls` that is a standby and has
 * replayed `lsn` (a primary's `pg_current_wal_lsn()`), so a snapshot taken
 * there holds everything the primary had committed at `lsn`. Waits up to
 * `waitSeconds` for each to catch up. Otherwise undefined, with each
 * replica's reason in `problems`. The caller ends the pool.
 */
export async function caughtUpReplica(
  urls: string[],
  lsn: string,
  options: { waitSeconds: number; client: ClientOptions; problems: string[] },
): Promise<CaughtUp | undefined> {
  for (const url of urls) {
    const host = new URL(url).host;
    const sql = createSql(url, { ...options.client, poolSize: 1, pooler: "none" });
    const deadline = Date.now() + options.waitSeconds * 1000;
    try {
      for (;;) {
        const state = await replayState(sql, lsn);
        if (!state.standby) {
          options.problems.push(`${host} is not a standby`);
          break;
        }
        if (state.caughtUp) return { sql, host };
        if (Date.now() >= deadline) {
          options.problems.push(`${host} had not replayed ${lsn} after ${options.waitSeconds} s`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, CAUGHT_UP_POLL_MS));
      }
    } catch (error) {
      options.problems.push(
        `${host} does not answer (${error instanceof Error ? error.message : error})`,
      );
    }
    await sql.end({ timeout: 5 });
  }
  return undefined;
}
