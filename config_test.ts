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
  const ok = loadConfig({ ENVIRONMENT: "production", SECRET_KEY: "k".repeat(32) });
  assert.equal(ok.secretKey, "k".repeat(32));
});

Deno.test("loadConfig() accepts placeholders in local", () => {
  const config = loadConfig({
    SECRET_KEY: "changethis",
    FIRST_SUPERUSER: "admin@example.com",
    FIRST_SUPERUSER_PASSWORD: "changethis",
  });
  assert.equal(config.firstSuperuserPassword, "changethis");
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

Deno.test("loadConfig() wants FIRST_SUPERUSER and its password together", () => {
  assert.match(problems({ SECRET_KEY: "x", FIRST_SUPERUSER: "a@b.c" })[0]!, /set both or neither/);
});
