/**
 * Test databases: each test gets its own database, cloned from the migrated
 * template that `tests/run.ts` built (or empty, for migrator tests), and
 * dropped when the test ends.
 *
 * @module
 */
import { createSql, databaseUrl, type Sql } from "../db/client.ts";

/** A throwaway database; `await using` drops it. */
export interface TestDatabase extends AsyncDisposable {
  name: string;
  url: string;
  sql: Sql;
  /** Runs `cleanup` (last registered first) before the database is dropped. */
  defer(cleanup: () => Promise<void> | void): void;
}

function settings(): { adminUrl: string; template: string } {
  const adminUrl = Deno.env.get("TUSK_TEST_ADMIN_URL");
  const template = Deno.env.get("TUSK_TEST_TEMPLATE");
  if (!adminUrl || !template) {
    throw new Error(
      "Run the tests with `deno task test`: it starts Postgres and builds the template",
    );
  }
  return { adminUrl, template };
}

async function create(template: string): Promise<TestDatabase> {
  const { adminUrl } = settings();
  const name = `tusk_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = createSql(adminUrl, { role: "test", poolSize: 1 });
  try {
    await admin.unsafe(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  const sql = createSql(url, { role: "test", poolSize: 4 });
  const cleanups: (() => Promise<void> | void)[] = [];
  return {
    name,
    url,
    sql,
    defer: (cleanup) => cleanups.push(cleanup),
    async [Symbol.asyncDispose]() {
      for (const cleanup of cleanups.reverse()) await cleanup();
      await sql.end();
      await dropDatabase(adminUrl, name);
    },
  };
}

/** Attempts at a drop that finds the database in use; each waits 5 s for its sessions. */
const DROP_ATTEMPTS = 3;

/**
 * Drops `name`, terminating its sessions. PostgreSQL waits 5 s for them to end and then fails
 * with 55006, which happened once in CI right after a test force-exited a worker; the drop is
 * tried again, printing who held the database, so a session that really leaks still fails the
 * test and names itself.
 */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = createSql(adminUrl, { role: "test", poolSize: 1 });
  try {
    for (let attempt = 1;; attempt++) {
      try {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== "55006") throw error;
        const holders = await admin`
          select pid, application_name, backend_type, state, wait_event,
                 round(extract(epoch from now() - backend_start)::numeric, 1) as age_s
          from pg_stat_activity where datname = ${name}`;
        const message = `drop database ${name}, attempt ${attempt}: ${
          (error as Error).message
        }; its sessions: ${JSON.stringify(holders)}`;
        if (attempt === DROP_ATTEMPTS) throw new Error(message, { cause: error });
        console.error(`warning: ${message}`);
      }
    }
  } finally {
    await admin.end();
  }
}

/** A fresh copy of the migrated template. */
export function migratedDatabase(): Promise<TestDatabase> {
  return create(settings().template);
}

/** A database with no migrations applied. */
export function emptyDatabase(): Promise<TestDatabase> {
  return create("template0");
}
