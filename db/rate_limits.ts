/**
 * The `rate_limits` table: fixed-window counters shared by every process.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** A counter's state: hits in the current window and when that window ends. */
export interface WindowCount {
  hits: number;
  resetsAt: Date;
}

/** Adds one hit to `key` (starting a new window if the old one ended). */
export async function hit(sql: Sql | Tx, key: string, windowSeconds: number): Promise<WindowCount> {
  const [row] = await sql<{ hits: number; resets_at: Date }[]>`
    insert into rate_limits as r (key, hits, window_start) values (${key}, 1, now())
    on conflict (key) do update set
      hits = case when r.window_start <= now() - make_interval(secs => ${windowSeconds})
                  then 1 else r.hits + 1 end,
      window_start = case when r.window_start <= now() - make_interval(secs => ${windowSeconds})
                          then now() else r.window_start end
    returning hits, window_start + make_interval(secs => ${windowSeconds}) as resets_at
  `;
  return { hits: row!.hits, resetsAt: row!.resets_at };
}

/** Takes back one hit of `key` (an event that turned out not to count). */
export async function unhit(sql: Sql | Tx, key: string): Promise<void> {
  await sql`update rate_limits set hits = greatest(hits - 1, 0) where key = ${key}`;
}

/** Forgets `key`'s counter (e.g. after a successful login). */
export async function clear(sql: Sql | Tx, key: string): Promise<void> {
  await sql`delete from rate_limits where key = ${key}`;
}

/** Deletes counters whose window started before `olderThanSeconds` ago; returns how many. */
export async function deleteStale(sql: Sql | Tx, olderThanSeconds: number): Promise<number> {
  const rows = await sql`
    delete from rate_limits where window_start < now() - make_interval(secs => ${olderThanSeconds})
    returning 1
  `;
  return rows.length;
}
