/**
 * The app in process for benchmarks, and a user logged in through it.
 *
 * @module
 */
import { generationResolver } from "../analytics/published.ts";
import { analyticsReports } from "../analytics/reports.ts";
import { createApp } from "../app.ts";
import { loadConfig } from "../config.ts";
import type { Sql } from "../db/client.ts";
import { loadMigrations } from "../db/migrate/mod.ts";
import { createMailer } from "../emails/mailer.ts";
import { registerUser } from "../services/accounts.ts";
import { createLogger } from "../lib/logging.ts";
import { createLiveEvents } from "../routes/events.ts";

/**
 * The app over `sql` (extra variables in `env`) and the auth header of a new
 * user (a superuser with `superuser`); `close()` closes what the app opened.
 */
export async function benchApp(
  sql: Sql,
  options: { env?: Record<string, string>; superuser?: boolean } = {},
) {
  const log = createLogger({ level: "error" });
  const config = loadConfig({ SECRET_KEY: "b".repeat(40), EMAIL_TRANSPORT: "off", ...options.env });
  const analytics = analyticsReports(
    config.analytics.dir,
    log,
    generationResolver(sql, config.analytics),
  );
  const events = createLiveEvents({ config, sql, log });
  const app = createApp({
    config,
    sql,
    events,
    migrations: await loadMigrations(),
    log,
    mailer: createMailer(config, log),
    analytics,
  });
  const email = `bench-${crypto.randomUUID().slice(0, 8)}@example.com`;
  await registerUser(sql, {
    email,
    password: "bench password",
    is_superuser: options.superuser ?? false,
  });
  const login = await app.request("/api/v1/login/access-token", {
    method: "POST",
    body: new URLSearchParams({ username: email, password: "bench password" }),
  });
  const auth = `Bearer ${(await login.json()).access_token}`;
  return {
    app,
    auth,
    close: async () => {
      await events.close();
      await analytics.close();
    },
  };
}
