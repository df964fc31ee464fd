/**
 * In-process app helpers: a test config and the app wired to a test database,
 * with log lines captured for assertions.
 *
 * @module
 */
import { createApp } from "../app.ts";
import { type Config, loadConfig } from "../config.ts";
import { loadMigrations, type Migration } from "../db/migrate.ts";
import type { Sql } from "../db/client.ts";
import { createMailer, type Mailer } from "../emails/mailer.ts";
import { createLogger } from "../lib/logging.ts";

/** A test secret: 32+ bytes, never a placeholder. */
export const TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256";

/** Config as the tests run it: local, a fixed secret, and any overrides. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ENVIRONMENT: "local",
    SECRET_KEY: TEST_SECRET,
    DATABASE_URL: "postgres://unused@127.0.0.1:1/unused",
    FRONTEND_HOST: "http://localhost:5173",
    EMAIL_TRANSPORT: "off",
    ...overrides,
  });
}

/** The app over `sql`, plus the JSON log lines it wrote. */
export async function testApp(
  sql: Sql,
  options: { env?: Record<string, string>; migrations?: Migration[]; mailer?: Mailer } = {},
) {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) });
  const config = testConfig(options.env);
  const app = createApp({
    config,
    sql,
    migrations: options.migrations ?? await loadMigrations(),
    log,
    mailer: options.mailer ?? createMailer(config, log),
  });
  return { app, logs, config };
}
