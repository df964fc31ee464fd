/**
 * In-process app helpers: a test config and the app wired to a test database
 * (with its job system started), with log lines captured for assertions.
 *
 * @module
 */
import { generationResolver } from "../analytics/published.ts";
import { analyticsReports } from "../analytics/reports.ts";
import { createApp } from "../app.ts";
import { type Config, loadConfig } from "../config.ts";
import type { Sql } from "../db/client.ts";
import { loadMigrations, type Migration } from "../db/migrate/mod.ts";
import { createMailer, type Mailer } from "../emails/mailer.ts";
import type { AnyJob } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { type Services, startServices } from "../cli/runtime.ts";
import { createLogger } from "../lib/logging.ts";
import { createLiveEvents } from "../routes/events.ts";
import { migratedDatabase, type TestDatabase } from "./_db.ts";
import { bearer, login, makeUser } from "./_factories.ts";

/** A test secret: 32+ bytes, never a placeholder. */
export const TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256";

/** Config as the tests run it: local, a fixed secret, no email, quick polling, and any overrides. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ENVIRONMENT: "local",
    SECRET_KEY: TEST_SECRET,
    DATABASE_URL: "postgres://unused@127.0.0.1:1/unused",
    FRONTEND_HOST: "http://localhost:5173",
    EMAIL_TRANSPORT: "off",
    WORKER_POLL_INTERVAL_MS: "100",
    // Never the developer's exports; tests that export pass a scratch directory of their own.
    PARQUET_DATA_PATH: `.data/test-parquet-none-${crypto.randomUUID()}`,
    ...overrides,
  });
}

/** Options for {@link testApp}. */
export interface TestAppOptions {
  env?: Record<string, string>;
  migrations?: Migration[];
  mailer?: Mailer;
  /** Also run a worker in this process (for tests that wait for jobs, e.g. emails). */
  work?: boolean;
  jobs?: AnyJob[];
  /** Feature flags to set (creating them if needed) before the flag cache loads. */
  flags?: Record<string, boolean>;
  /** A built frontend to serve at `/` (its real path). */
  frontendRoot?: string;
}

/**
 * The app over a test database, its job system started (and stopped when the
 * database is disposed), plus the JSON log lines it wrote. Given a bare pool
 * instead (e.g. to an unreachable server), no job system is started.
 */
export async function testApp(db: TestDatabase | Sql, options: TestAppOptions = {}) {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) });
  const config = testConfig(options.env);
  const mailer = options.mailer ?? createMailer(config, log);
  const sql = "defer" in db ? db.sql : db;
  let services: Services | undefined;
  if ("defer" in db) {
    for (const [codename, on] of Object.entries(options.flags ?? {})) {
      await db.sql`
        insert into feature_flags (codename, is_active) values (${codename}, ${on})
        on conflict (codename) do update set is_active = excluded.is_active`;
    }
    services = await startServices({
      config,
      db: {
        sql: db.sql,
        url: db.url,
        embedded: undefined,
        close: () => Promise.resolve(),
      },
      mailer,
      log,
      jobs: options.jobs ?? JOBS,
      role: "test",
      work: options.work,
    });
    db.defer(() => services!.stop());
  }
  const analytics = analyticsReports(
    config.analytics.dir,
    log,
    generationResolver(sql, config.analytics),
  );
  if ("defer" in db) db.defer(() => analytics.close());
  const events = createLiveEvents({ config, sql, log });
  if ("defer" in db) db.defer(() => events.close());
  const app = createApp({
    config,
    sql,
    events,
    migrations: options.migrations ?? await loadMigrations(),
    log,
    mailer,
    analytics,
    frontendRoot: options.frontendRoot,
  });
  return { app, logs, config, jobs: services?.jobs, flags: services?.flags, analytics, events };
}

/**
 * A migrated database, its app (built with `options`), and three users logged in
 * through the API: alice and bob (normal users) and a superuser, with their auth headers.
 */
export async function appWithUsers(options: TestAppOptions = {}) {
  const db = await migratedDatabase();
  const { app } = await testApp(db, options);
  const alice = await makeUser(db.sql);
  const bob = await makeUser(db.sql);
  const admin = await makeUser(db.sql, { superuser: true });
  return {
    db,
    app,
    alice,
    bob,
    admin,
    aliceH: bearer(await login(app, alice.email, alice.password)),
    bobH: bearer(await login(app, bob.email, bob.password)),
    adminH: bearer(await login(app, admin.email, admin.password)),
  };
}
