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

/** What {@link take} granted: how many of the wanted hits, and when the window ends. */
export interface Grant {
  granted: number;
  resetsAt: Date;
}

/**
 * Takes up to `want` hits of `key`'s window (at most `limit` in one window of `windowSeconds`),
 * in one statement: the job worker's rate limits count on the same table as the login throttle.
 * It never grants more than the limit; two first takes of a new key at once may grant less.
 */
export async function take(
  sql: Sql | Tx,
  key: string,
  options: { want: number; limit: number; windowSeconds: number },
): Promise<Grant> {
  const { want, limit, windowSeconds } = options;
  const window = sql`make_interval(secs => ${windowSeconds})`;
  const [row] = await sql<{ granted: number; resets_at: Date }[]>`
    with old as (
      select hits, window_start > now() - ${window} as live
      from rate_limits where key = ${key} for update
    ), inserted as (
      insert into rate_limits (key, hits, window_start)
      select ${key}, least(${want}::int, ${limit}::int), now() where not exists (select from old)
      on conflict (key) do nothing
      returning hits as granted, window_start
    ), updated as (
      update rate_limits r set
        hits = case when old.live then least(old.hits + ${want}::int, ${limit}::int)
                    else least(${want}::int, ${limit}::int) end,
        window_start = case when old.live then r.window_start else now() end
      from old where r.key = ${key}
      returning r.hits - case when old.live then old.hits else 0 end as granted, r.window_start
    )
    select granted, window_start + ${window} as resets_at from inserted
    union all
    select granted, window_start + ${window} as resets_at from updated`;
  return row
    ? { granted: row.granted, resetsAt: row.resets_at }
    : { granted: 0, resetsAt: new Date(Date.now() + windowSeconds * 1000) };
}

/** Gives back `count` hits of `key` taken and not used. */
export async function giveBack(sql: Sql | Tx, key: string, count: number): Promise<void> {
  if (count <= 0) return;
  await sql`update rate_limits set hits = greatest(hits - ${count}::int, 0) where key = ${key}`;
}
