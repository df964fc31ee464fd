import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, loadConfig } from "./config.ts";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("loadConfig() applies the template's defaults", () => {
  const config = loadConfig({ SECRET_KEY: "x", DATABASE_URL: "postgres://u@h/db" });
  assert.equal(config.environment, "local");
  assert.equal(config.port, 8000);
  assert.equal(config.projectName, "Tusk");
  assert.equal(config.accessTokenExpireMinutes, 60 * 24 * 8);
  assert.equal(config.emailResetTokenExpireHours, 1);
  assert.deepEqual(config.corsOrigins, ["http://localhost:5173"]);
  assert.equal(config.smtp.port, 587);
  assert.equal(config.smtp.tls, true);
});

Deno.test("loadConfig() reports every bad variable at once", () => {
  const found = problems({
    ENVIRONMENT: "prod",
    PORT: "eighty",
    DATABASE_URL: "mysql://x/y",
    SMTP_TLS: "maybe",
    BACKEND_CORS_ORIGINS: "not a url",
  });
  assert.equal(found.length, 5, found.join("\n"));
  for (const name of ["ENVIRONMENT", "PORT", "DATABASE_URL", "SMTP_TLS", "BACKEND_CORS_ORIGINS"]) {
    assert.ok(found.some((p) => p.startsWith(`${name}:`)), `${name} missing from ${found}`);
  }
});

Deno.test("loadConfig() refuses placeholder and short secrets outside local", () => {
  for (const environment of ["staging", "production"]) {
    const found = problems({
      ENVIRONMENT: environment,
      SECRET_KEY: "changethis",
      FIRST_SUPERUSER: "admin@example.com",
      FIRST_SUPERUSER_PASSWORD: "changethis",
      DATABASE_URL: "postgres://app:changethis@db/app",
    });
    assert.equal(found.length, 3, found.join("\n"));
    assert.match(found[0]!, /SECRET_KEY: the placeholder/);
    assert.match(found[1]!, /FIRST_SUPERUSER_PASSWORD/);
    assert.match(found[2]!, /DATABASE_URL: the placeholder password/);
  }
  assert.match(
    problems({ ENVIRONMENT: "production", SECRET_KEY: "short" })[0]!,
    /at least 32 bytes/,
  );
  assert.match(problems({ ENVIRONMENT: "production" })[0]!, /SECRET_KEY: required/);
  const ok = loadConfig({
    ENVIRONMENT: "production",
    SECRET_KEY: "k".repeat(32),
    DATABASE_URL: "postgres://app@db/app",
  });
  assert.equal(ok.secretKey, "k".repeat(32));
});

Deno.test("loadConfig() accepts placeholders in local, only while HOST is loopback", () => {
  const placeholders = {
    SECRET_KEY: "changethis",
    FIRST_SUPERUSER: "admin@example.com",
    FIRST_SUPERUSER_PASSWORD: "changethis",
  };
  for (const host of [undefined, "127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"]) {
    const config = loadConfig({ ...placeholders, HOST: host });
    assert.equal(config.firstSuperuserPassword, "changethis", String(host));
  }
  for (const host of ["0.0.0.0", "::", "192.168.1.20", "tusk.example.com"]) {
    const found = problems({ ...placeholders, HOST: host });
    assert.equal(found.length, 2, `${host}: ${found.join("\n")}`);
    assert.match(
      found[0]!,
      /^SECRET_KEY: the placeholder "changethis" is not allowed when the API/,
    );
    assert.match(found[1]!, /^FIRST_SUPERUSER_PASSWORD: the placeholder .* beyond loopback/);
    assert.ok(found[1]!.includes(`(HOST=${host})`), found[1]);
  }
  assert.equal(loadConfig({ HOST: "0.0.0.0", SECRET_KEY: "x" }).host, "0.0.0.0", "real ones pass");
});

Deno.test("loadConfig() generates a local secret once and keeps it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = loadConfig({ TUSK_DATA_DIR: dir }).secretKey;
    const second = loadConfig({ TUSK_DATA_DIR: dir }).secretKey;
    assert.ok(first.length >= 32);
    assert.equal(first, second);
    assert.equal((await Deno.stat(join(dir, "secret_key"))).mode! & 0o777, 0o600);
    const other = await Deno.makeTempDir();
    assert.notEqual(loadConfig({ TUSK_DATA_DIR: other }).secretKey, first);
    await Deno.remove(other, { recursive: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig() parses CORS origins as a list or JSON and adds FRONTEND_HOST", () => {
  const a = loadConfig({
    SECRET_KEY: "x",
    BACKEND_CORS_ORIGINS: "http://a.test/, http://b.test",
    FRONTEND_HOST: "https://app.test/",
  });
  assert.deepEqual(a.corsOrigins, ["http://a.test", "http://b.test", "https://app.test"]);
  const b = loadConfig({ SECRET_KEY: "x", BACKEND_CORS_ORIGINS: '["http://c.test"]' });
  assert.deepEqual(b.corsOrigins, ["http://c.test", "http://localhost:5173"]);
});

Deno.test("loadConfig() wants FIRST_SUPERUSER and its password together, and as the API would take them", () => {
  assert.match(problems({ SECRET_KEY: "x", FIRST_SUPERUSER: "a@b.co" })[0]!, /set both or neither/);
  // With another bad variable, in the same message.
  assert.deepEqual(problems({ PORT: "x", FIRST_SUPERUSER_PASSWORD: "long enough" }), [
    'PORT: expected an integer from 0 to 65535, got "x"',
    "FIRST_SUPERUSER and FIRST_SUPERUSER_PASSWORD: set both or neither",
  ]);
  for (const environment of ["local", "production"]) {
    const found = problems({
      ENVIRONMENT: environment,
      SECRET_KEY: "k".repeat(32),
      DATABASE_URL: "postgres://app@db/app",
      FIRST_SUPERUSER: "boss",
      FIRST_SUPERUSER_PASSWORD: "abc",
    });
    assert.deepEqual(found, [
      'FIRST_SUPERUSER: expected an email address (at most 255 characters), got "boss"',
      "FIRST_SUPERUSER_PASSWORD: expected 8 to 128 characters",
    ], environment);
  }
  assert.match(
    problems({ FIRST_SUPERUSER: "a@b.co", FIRST_SUPERUSER_PASSWORD: "x".repeat(129) })[0]!,
    /FIRST_SUPERUSER_PASSWORD: expected 8 to 128 characters/,
  );
  const ok = loadConfig({
    FIRST_SUPERUSER: "boss@example.com",
    FIRST_SUPERUSER_PASSWORD: "8 chars!",
  });
  assert.equal(ok.firstSuperuser, "boss@example.com");
});

Deno.test("loadConfig() echoes a bad ENVIRONMENT, LOG_LEVEL or EMAIL_TRANSPORT", () => {
  assert.deepEqual(problems({ ENVIRONMENT: "prod", LOG_LEVEL: "loud", EMAIL_TRANSPORT: "ses" }), [
    'ENVIRONMENT: expected local, staging or production, got "prod"',
    'EMAIL_TRANSPORT: expected smtp, file or off, got "ses"',
    'LOG_LEVEL: expected debug, info, warn or error, got "loud"',
  ]);
});

Deno.test("loadConfig() outside local needs a database: never the embedded one by surprise", () => {
  for (const environment of ["staging", "production"]) {
    const found = problems({ ENVIRONMENT: environment, SECRET_KEY: "k".repeat(32) });
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0]!, /DATABASE_URL: required when ENVIRONMENT=/);
    assert.match(found[0]!, /embedded Postgres is for local development only/);
  }
  assert.equal(loadConfig({ SECRET_KEY: "x" }).databaseUrl, undefined, "local: embedded");
});

Deno.test("loadConfig() builds the database URL from the template's POSTGRES_* variables", () => {
  const template = {
    SECRET_KEY: "x",
    POSTGRES_SERVER: "db.internal",
    POSTGRES_PORT: "6543",
    POSTGRES_USER: "app user",
    POSTGRES_PASSWORD: "p@ss/w:rd#1",
    POSTGRES_DB: "app",
  };
  const url = new URL(loadConfig(template).databaseUrl!);
  assert.equal(url.hostname, "db.internal");
  assert.equal(url.port, "6543");
  assert.equal(decodeURIComponent(url.username), "app user");
  assert.equal(decodeURIComponent(url.password), "p@ss/w:rd#1");
  assert.equal(url.pathname, "/app");
  assert.equal(
    loadConfig({ ...template, DATABASE_URL: "postgres://u@elsewhere/db" }).databaseUrl,
    "postgres://u@elsewhere/db",
    "DATABASE_URL wins",
  );
  assert.equal(
    loadConfig({ SECRET_KEY: "x", POSTGRES_SERVER: "h", POSTGRES_USER: "u" }).databaseUrl,
    "postgresql://u@h:5432",
    "port 5432 by default; no database name: the server's default for the user",
  );
  assert.match(problems({ SECRET_KEY: "x", POSTGRES_USER: "u" })[0]!, /POSTGRES_SERVER: required/);
  assert.match(problems({ SECRET_KEY: "x", POSTGRES_SERVER: "h" })[0]!, /POSTGRES_USER: required/);
  const production = problems({
    ENVIRONMENT: "production",
    SECRET_KEY: "k".repeat(32),
    POSTGRES_SERVER: "db",
    POSTGRES_USER: "app",
    POSTGRES_PASSWORD: "changethis",
  });
  assert.deepEqual(production, [
    'POSTGRES_PASSWORD: the placeholder password "changethis" is not allowed outside local',
  ]);
});

Deno.test("loadConfig() reads LOG_LEVEL, throttle limits, and IPv6 trusted proxies", () => {
  const config = loadConfig({
    SECRET_KEY: "x",
    LOG_LEVEL: "warn",
    RECOVERY_LIMIT_PER_HOUR: "100",
    TRUSTED_PROXIES: "fd00::/8, 10.0.0.0/8, ::1",
  });
  assert.equal(config.logLevel, "warn");
  assert.equal(config.throttle.recoveryPerClient, 100);
  assert.equal(config.throttle.recoveryPerEmail, 3);
  assert.deepEqual(config.trustedProxies, ["fd00::/8", "10.0.0.0/8", "::1"]);
  assert.equal(loadConfig({ SECRET_KEY: "x" }).logLevel, "info");
  const found = problems({
    SECRET_KEY: "x",
    LOG_LEVEL: "loud",
    LOGIN_LIMIT_PER_ACCOUNT: "0",
    TRUSTED_PROXIES: "fd00::/200, example.com, *",
  });
  assert.equal(found.length, 5, found.join("\n"));
  assert.match(found.join("\n"), /TRUSTED_PROXIES: \* would let every client choose its own/);
  assert.match(found.join("\n"), /LOG_LEVEL: expected debug, info, warn or error/);
  assert.match(found.join("\n"), /LOGIN_LIMIT_PER_ACCOUNT: expected an integer from 1/);
  assert.match(found.join("\n"), /"fd00::\/200" is not an IP address/);
});

Deno.test("loadConfig() reads PARQUET_DATA_PATH and ANALYTICS_EXPORT_CRON (nightly by default, off, or refused)", () => {
  const defaults = loadConfig({ SECRET_KEY: "x", TUSK_DATA_DIR: "/srv/tusk" });
  assert.equal(defaults.analytics.dir, join("/srv/tusk", "parquet"));
  assert.equal(defaults.analytics.exportCron, "0 3 * * *");
  const set = loadConfig({
    SECRET_KEY: "x",
    PARQUET_DATA_PATH: "/data/parquet",
    ANALYTICS_EXPORT_CRON: "  */15   * * * 1-5 ",
  });
  assert.equal(set.analytics.dir, "/data/parquet");
  assert.equal(set.analytics.exportCron, "*/15 * * * 1-5");
  assert.equal(
    loadConfig({ SECRET_KEY: "x", ANALYTICS_EXPORT_CRON: "off" }).analytics.exportCron,
    undefined,
  );
  for (const bad of ["nightly", "0 3 * *", "61 * * * *", "0 3 * * * * *", "0 25 * * *"]) {
    const found = problems({ SECRET_KEY: "x", ANALYTICS_EXPORT_CRON: bad });
    assert.equal(found.length, 1, `${bad}: ${found}`);
    assert.match(found[0]!, /^ANALYTICS_EXPORT_CRON: expected a cron expression/);
  }
});

Deno.test("loadConfig() takes the FastAPI template's FASTAPI_ENV, driver-qualified URLs, and warns of placeholders", () => {
  const dev = loadConfig({
    FASTAPI_ENV: "development",
    SECRET_KEY: "changethis",
    FIRST_SUPERUSER: "admin@example.com",
    FIRST_SUPERUSER_PASSWORD: "changethis",
    DATABASE_URL: "postgresql+psycopg://postgres:changethis@localhost:5432/app",
  });
  assert.equal(dev.environment, "local");
  assert.equal(dev.databaseUrl, "postgresql://postgres:changethis@localhost:5432/app");
  assert.deepEqual(dev.warnings, [
    'SECRET_KEY, FIRST_SUPERUSER_PASSWORD are the placeholder "changethis": fine for local ' +
    "development, refused in staging and production",
  ]);
  assert.equal(
    loadConfig({ SECRET_KEY: "x", DATABASE_URL: "postgresql+asyncpg://u@db/app" }).databaseUrl,
    "postgresql://u@db/app",
  );
  // A contradiction: ENVIRONMENT wins, and says so.
  const prod = loadConfig({
    FASTAPI_ENV: "development",
    ENVIRONMENT: "production",
    SECRET_KEY: "k".repeat(32),
    DATABASE_URL: "postgres://app@db/app",
  });
  assert.equal(prod.environment, "production");
  assert.match(
    prod.warnings[0]!,
    /^FASTAPI_ENV=development and ENVIRONMENT=production disagree: ENVIRONMENT wins/,
  );
  // Outside development the template refuses placeholders; so does Tusk outside local.
  assert.match(
    problems({
      ENVIRONMENT: "production",
      SECRET_KEY: "changethis",
      DATABASE_URL: "postgres://a@b/c",
    })[0]!,
    /SECRET_KEY: the placeholder "changethis" is not allowed outside local/,
  );
  assert.deepEqual(problems({ FASTAPI_ENV: "production" }), [
    'FASTAPI_ENV: expected development (or unset), got "production"',
  ]);
  assert.deepEqual(problems({ DATABASE_URL: "mysql+pymysql://u@db/app" }), [
    "DATABASE_URL: expected a postgres: or postgresql: URL, got mysql+pymysql:",
  ]);
});

Deno.test("loadConfig() puts the console at /admin, at /console beside a frontend, or at CONSOLE_PATH", () => {
  const base = { SECRET_KEY: "x", DATABASE_URL: "postgres://u@h/db" };
  assert.equal(loadConfig(base).consolePath, "/admin");
  assert.equal(loadConfig({ ...base, FRONTEND_DIR: "frontend" }).consolePath, "/console");
  assert.equal(
    loadConfig({ ...base, FRONTEND_DIR: "frontend", CONSOLE_PATH: "/admin" }).consolePath,
    "/admin",
  );
  assert.equal(loadConfig({ ...base, CONSOLE_PATH: "/ops/console" }).consolePath, "/ops/console");
  assert.deepEqual(problems({ ...base, CONSOLE_PATH: "admin" }), [
    "CONSOLE_PATH: expected a path such as /console: one or more /segments of letters, digits, _ " +
    'and -, no trailing /, got "admin"',
  ]);
  assert.equal(problems({ ...base, CONSOLE_PATH: "/admin/" }).length, 1);
  assert.equal(problems({ ...base, CONSOLE_PATH: "/" }).length, 1);
  assert.deepEqual(problems({ ...base, CONSOLE_PATH: "/api/console" }), [
    "CONSOLE_PATH: /api/console is under /api, which the API answers; pick another path",
  ]);
});

Deno.test("log lines go out one by one only while Deno exports console output", () => {
  const base = { SECRET_KEY: "x", DATABASE_URL: "postgres://u@h/db" };
  const exported = (env: Record<string, string>) => loadConfig({ ...base, ...env }).logsExported;
  assert.equal(exported({}), false);
  assert.equal(exported({ OTEL_DENO: "true" }), true);
  assert.equal(exported({ OTEL_DENO: "true", OTEL_DENO_CONSOLE: "replace" }), true);
  assert.equal(exported({ OTEL_DENO: "true", OTEL_DENO_CONSOLE: "ignore" }), false);
  assert.equal(exported({ OTEL_DENO_CONSOLE: "capture" }), false);
});
