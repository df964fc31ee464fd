import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { installJobs } from "../jobs/boss.ts";
import { JOBS } from "../jobs/registry.ts";
import { currentUser } from "../http/current_user.ts";
import { createLogger } from "../lib/logging.ts";
import { testApp } from "./_app.ts";
import { migratedDatabase } from "./_db.ts";
import { bearer, login, makeUser } from "./_factories.ts";
import { startSentryReceiver } from "./_sentry.ts";
import { alwaysFails, EFFECTS_TABLE_SQL, TEST_JOBS } from "./fixtures/test_jobs.ts";

const quiet = createLogger({ level: "error", write: () => {} });
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a 500 is reported once, with request id, route, user id, environment and release; 4xx are not; no secret reaches Sentry", async () => {
  await using receiver = startSentryReceiver();
  await using db = await migratedDatabase();
  const { app, config } = await testApp(db, {
    env: { SENTRY_DSN: receiver.dsn, SENTRY_RELEASE: "tusk@1.2.3" },
  });
  const user = await makeUser(db.sql, { password: "hunter2-is-my-password" });
  let token = "";
  // Routes go in before the first request builds the router.
  app.get("/test/crash/:id", currentUser({ sql: db.sql, config, log: quiet }), () => {
    throw new Error(
      `boom for ${user.email}: password=${user.password}, Bearer ${token}, ` +
        `link http://localhost:5173/reset-password?token=resetsecret123`,
    );
  });
  token = await login(app, user.email, user.password);
  const crash = await app.request("/test/crash/42", {
    headers: {
      ...bearer(token),
      "X-Request-Id": "req-sentry-1",
      Cookie: "session=sekrit-cookie-value",
    },
  });
  assert.equal(crash.status, 500);
  await crash.body?.cancel();
  for (
    const [path, init] of [
      ["/api/v1/users/me", {}],
      ["/api/v1/users/me", { headers: bearer("forged.token.here") }],
      ["/api/v1/items/", {
        method: "POST",
        headers: { ...bearer(token), "Content-Type": "application/json" },
        body: "{}",
      }],
      ["/nope", {}],
      ["/api/v1/items/not-a-uuid", { headers: bearer(token) }],
    ] as const
  ) {
    const res = await app.request(path, init as RequestInit);
    assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
    await res.body?.cancel();
  }
  const [event] = await receiver.waitFor(1);
  await settle(500);
  assert.equal(receiver.events().length, 1, "one event: the 500, none for the 4xx");
  assert.equal(event!.level, "error");
  assert.equal(event!.tags?.request_id, "req-sentry-1");
  assert.equal(event!.tags?.route, "/test/crash/:id");
  assert.equal(event!.tags?.method, "GET");
  assert.equal(event!.tags?.role, "test");
  assert.deepEqual(event!.user, { id: user.user.id });
  assert.equal(event!.environment, "local");
  assert.equal(event!.release, "tusk@1.2.3");
  assert.match(event!.exception!.values[0]!.value, /^boom for \[email\]: password=\[redacted\]/);
  const bytes = receiver.raw().join("\n");
  for (
    const secret of [
      user.password,
      token,
      token.split(".")[2]!,
      user.email,
      "resetsecret123",
      "sekrit-cookie-value",
    ]
  ) {
    assert.ok(!bytes.includes(secret), `a secret reached Sentry: ${secret.slice(0, 12)}...`);
  }
});

Deno.test("each failed job attempt is one event: warnings while it will be retried, an error when it gives up", async () => {
  await using receiver = startSentryReceiver();
  await using db = await migratedDatabase();
  await db.sql.unsafe(EFFECTS_TABLE_SQL);
  await installJobs(db.url, TEST_JOBS, quiet);
  await testApp(db, {
    env: { SENTRY_DSN: receiver.dsn },
    work: true,
    jobs: [...JOBS, ...TEST_JOBS],
  });
  const id = await alwaysFails.delay({ n: 7 });
  const events = await receiver.waitFor(3, 30_000);
  await settle(500);
  assert.equal(receiver.events().length, 3, "retryLimit 2: three attempts, three events");
  assert.deepEqual(
    events.map((e) => [e.level, e.tags?.queue, e.tags?.job_id, e.tags?.attempt]),
    [
      ["warning", "test-fail", id, "1"],
      ["warning", "test-fail", id, "2"],
      ["error", "test-fail", id, "3"],
    ],
  );
  assert.equal(events[0]!.exception!.values[0]!.value, "planned failure 7");
});

Deno.test("without SENTRY_DSN the SDK is never loaded", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const script = `
    import { testConfig } from "./tests/_app.ts";
    import { startErrorReports, reportError } from "./lib/error_reports.ts";
    await import("./app.ts");
    const stop = await startErrorReports(testConfig(), "test");
    reportError(new Error("x"), { level: "error", tags: {} });
    await stop();
    console.log("__SENTRY__" in globalThis ? "loaded" : "not loaded");
    const on = await startErrorReports(
      testConfig({ SENTRY_DSN: "http://public@127.0.0.1:9/1" }),
      "test",
    );
    console.log("__SENTRY__" in globalThis ? "loaded" : "not loaded");
    await on();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(text.trim().split("\n"), ["not loaded", "loaded"]);
});
