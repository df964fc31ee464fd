/**
 * Analytics test helpers: a known data set, a scratch `PARQUET_DATA_PATH`,
 * and reading exported Parquet back with a real DuckDB.
 *
 * @module
 */
import { join } from "node:path";
import { openDuck } from "../analytics/duckdb.ts";
import type { Sql } from "../db/client.ts";
import { createLogger } from "../lib/logging.ts";
import type { TestDatabase } from "./_db.ts";
import { makeUser, type TestUser } from "./_factories.ts";

/** A logger that keeps its lines for assertions. */
export function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

/** A fresh directory for one test's exports, deleted with the database. */
export async function scratchDir(db: TestDatabase): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tusk-analytics-" });
  db.defer(() => Deno.remove(dir, { recursive: true }));
  return dir;
}

/** Runs `query` over the files with DuckDB; `$dir` names the export directory. */
export async function duckRows(
  query: string,
  dir: string,
): Promise<Record<string, unknown>[]> {
  const duck = await openDuck({ threads: 1, memoryLimit: "128MB" });
  const con = await duck.connect();
  try {
    return (await con.runAndReadAll(query.replaceAll("$dir", dir))).getRowObjectsJson() as Record<
      string,
      unknown
    >[];
  } finally {
    con.closeSync();
    duck.closeSync();
  }
}

/** The path of an exported file through the top-level link, as the template reads it. */
export function exported(dir: string, table: "users" | "items"): string {
  return join(dir, `${table}_analytics.parquet`);
}

/**
 * Four owners with 3, 2, 2 and 1 items (ties broken by email), one user
 * without items, items on several recent UTC days (one 40 days ago), and
 * text that CSV must carry intact: commas, quotes, newlines, backslashes,
 * non-ASCII, and an empty description beside a NULL.
 */
export async function knownData(sql: Sql): Promise<TestUser[]> {
  const users = [
    await makeUser(sql, { email: "carol@example.com" }),
    await makeUser(sql, { email: "alice@example.com" }),
    await makeUser(sql, { email: "bob@example.com" }),
    await makeUser(sql, { email: "dave@example.com", superuser: true }),
    await makeUser(sql, { email: "erin@example.com", active: false }),
  ];
  await sql`update users set full_name = ${'Carol "C", Jr.\nthe 2nd'} where email = 'carol@example.com'`;
  const [carol, alice, bob, dave] = users.map((u) => u.user.id);
  // [title, description, owner, days before today (UTC), hour of that day]
  const items: [string, string | null, string, number, number][] = [
    ["c1", "plain", carol!, 3, 10],
    ["c2, with a comma", 'a "quoted" \\ back\\slash', carol!, 3, 23.99],
    ["c3\nnewline", "", carol!, 1, 0],
    ["a1", null, alice!, 6, 12],
    ["a2 ünïcödé ✓", "日本語", alice!, 1, 8],
    ["b1", null, bob!, 2, 1],
    ["b2", "", bob!, 0, 0.01],
    ["d1", "x", dave!, 40, 5],
  ];
  const today = new Date(new Date().toISOString().slice(0, 10)).getTime();
  for (const [title, description, owner, daysAgo, hour] of items) {
    const at = new Date(today - daysAgo * 86_400_000 + hour * 3_600_000);
    await sql`insert into items (title, description, owner_id, created_at)
      values (${title}, ${description}, ${owner}, ${at})`;
  }
  return users;
}
