import assert from "node:assert/strict";
import { createRoute, z } from "@hono/zod-openapi";
import { newRouter } from "../http/router.ts";
import { createSql } from "../db/client.ts";
import { testApp } from "./_app.ts";
import { migratedDatabase } from "./_db.ts";

/** A router exercising every validation target, plus one handler that crashes. */
function probeRouter() {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/probe/{id}",
      request: {
        params: z.object({ id: z.uuid() }),
        query: z.object({ limit: z.coerce.number().int().max(1000).default(100) }),
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.object({ email: z.email(), password: z.string().min(8).max(128) }),
            },
          },
        },
      },
      responses: { 200: { description: "ok" } },
    }),
    (c) => c.json({ ok: true, id: c.req.valid("param").id }, 200),
  );
  router.get("/crash", () => {
    throw new Error("secret internals: password=hunter2");
  });
  return router;
}

async function appWithProbe(env: Record<string, string> = {}) {
  const db = await migratedDatabase();
  const { app, logs } = await testApp(db, { env });
  app.route("/test", probeRouter());
  return { app, logs, db };
}

const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const json = { "Content-Type": "application/json" };

Deno.test("unknown paths answer a JSON 404", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  const res = await app.request("/nope");
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { detail: "Not Found" });
});

Deno.test("a known path with the wrong method answers a JSON 405 with Allow", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  for (const path of ["/healthz", "/api/v1/utils/health-check/"]) {
    const res = await app.request(path, { method: "DELETE" });
    assert.equal(res.status, 405, path);
    assert.match(res.headers.get("Allow")!, /GET/);
    assert.deepEqual(await res.json(), { detail: "Method Not Allowed" });
  }
});

Deno.test("routes match with and without a trailing slash, without redirects", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  for (const path of ["/api/v1/utils/health-check", "/api/v1/utils/health-check/", "/healthz/"]) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
  const res = await app.request(`/test/probe/${ID}/`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ email: "a@example.com", password: "longenough" }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, id: ID });
});

Deno.test("bad input answers a FastAPI-style 422 list naming each field", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  const body = await (await app.request(`/test/probe/${ID}`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ email: "not-an-email", password: "short" }),
  })).json();
  assert.deepEqual(body.detail.map((d: { loc: unknown }) => d.loc), [
    ["body", "email"],
    ["body", "password"],
  ]);
  assert.equal(body.detail[0].type, "value_error");
  assert.equal(body.detail[0].input, "not-an-email");
  assert.deepEqual(body.detail[1], {
    type: "string_too_short",
    loc: ["body", "password"],
    msg: "String should have at least 8 characters",
    input: "short",
    ctx: { min_length: 8 },
  });

  const missing = await app.request(`/test/probe/${ID}`, {
    method: "POST",
    headers: json,
    body: "{}",
  });
  assert.equal(missing.status, 422);
  const detail = (await missing.json()).detail;
  assert.deepEqual(detail[0], {
    type: "missing",
    loc: ["body", "email"],
    msg: "Field required",
    input: {},
  });
});

Deno.test("a malformed UUID in the path and a bad query are 422s, never 500s", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  const body = JSON.stringify({ email: "a@example.com", password: "longenough" });
  const badId = await app.request("/test/probe/not-a-uuid", {
    method: "POST",
    headers: json,
    body,
  });
  assert.equal(badId.status, 422);
  const [idError] = (await badId.json()).detail;
  assert.deepEqual(idError.loc, ["path", "id"]);
  assert.equal(idError.type, "uuid_parsing");

  const badLimit = await app.request(`/test/probe/${ID}?limit=5000`, {
    method: "POST",
    headers: json,
    body,
  });
  assert.equal(badLimit.status, 422);
  const [limitError] = (await badLimit.json()).detail;
  assert.deepEqual(limitError.loc, ["query", "limit"]);
  assert.equal(limitError.type, "less_than_equal");
  assert.equal(limitError.msg, "Input should be less than or equal to 1000");
});

Deno.test("malformed JSON answers 422 json_invalid", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  const res = await app.request(`/test/probe/${ID}`, {
    method: "POST",
    headers: json,
    body: "{oops",
  });
  assert.equal(res.status, 422);
  const [error] = (await res.json()).detail;
  assert.equal(error.type, "json_invalid");
  assert.equal(error.loc[0], "body");
});

Deno.test("a crash answers a generic 500 with the request id and logs the cause", async () => {
  const { app, logs, db } = await appWithProbe();
  await using _ = db;
  const res = await app.request("/test/crash", { headers: { "X-Request-Id": "trace-123" } });
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.deepEqual(JSON.parse(text), { detail: "Internal Server Error", request_id: "trace-123" });
  assert.doesNotMatch(text, /hunter2|secret|stack/);
  const logged = logs.find((l) => l.msg === "unhandled error");
  assert.ok(logged, "the cause was not logged");
  assert.equal(logged.request_id, "trace-123");
  assert.match(JSON.stringify(logged.error), /hunter2/);
});

Deno.test("request ids are honoured when sane, generated otherwise, and echoed", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  const honoured = await app.request("/healthz", { headers: { "X-Request-Id": "abc-123_x.y:z" } });
  assert.equal(honoured.headers.get("X-Request-Id"), "abc-123_x.y:z");
  await honoured.body?.cancel();
  for (const bad of ["has space", "<script>", "x".repeat(200)]) {
    const res = await app.request("/healthz", { headers: { "X-Request-Id": bad } });
    const id = res.headers.get("X-Request-Id")!;
    assert.notEqual(id, bad);
    assert.match(id, /^[0-9a-f-]{36}$/);
    await res.body?.cancel();
  }
});

Deno.test("each request writes one JSON access-log line", async () => {
  const { app, logs, db } = await appWithProbe();
  await using _ = db;
  const res = await app.request(`/test/probe/${ID}`, {
    method: "POST",
    headers: { ...json, "X-Request-Id": "log-1" },
    body: "{}",
  });
  await res.body?.cancel();
  const lines = logs.filter((l) => l.msg === "request");
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.equal(line.method, "POST");
  assert.equal(line.route, "/test/probe/:id");
  assert.equal(line.path, `/test/probe/${ID}`);
  assert.equal(line.status, 422);
  assert.equal(line.request_id, "log-1");
  assert.equal(typeof line.ms, "number");
});

Deno.test("the probes answer ahead of the request middleware, logged and with every header", async () => {
  const { app, logs, db } = await appWithProbe();
  await using _ = db;
  const res = await app.request("/healthz", { headers: { "X-Request-Id": "probe-1" } });
  assert.deepEqual(await res.json(), { status: "ok" });
  assert.equal(res.headers.get("X-Content-Type-Options"), "nosniff");
  assert.equal(res.headers.get("X-Request-Id"), "probe-1");
  const line = logs.find((l) => l.msg === "request" && l.request_id === "probe-1");
  assert.equal(line?.route, "/healthz");
  // The middleware after them still answers what they do not: the wrong method is a 405.
  const post = await app.request("/healthz", { method: "POST" });
  assert.equal(post.status, 405);
  assert.ok((await post.json()).detail);
  // Where only middleware matched, the log names no route.
  const missing = await app.request("/api/v1/nothing-here", {
    headers: { "X-Request-Id": "nf-1" },
  });
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  assert.equal(logs.find((l) => l.msg === "request" && l.request_id === "nf-1")?.route, null);
});

Deno.test("bodies over the limit answer 413, with or without Content-Length", async () => {
  const { app, db } = await appWithProbe({ MAX_BODY_BYTES: "1024" });
  await using _ = db;
  const big = "x".repeat(4096);
  const declared = await app.request(`/test/probe/${ID}`, {
    method: "POST",
    headers: { ...json, "Content-Length": String(big.length) },
    body: big,
  });
  assert.equal(declared.status, 413);
  assert.match((await declared.json()).detail, /too large \(limit 1024 bytes\)/);

  const chunks = [big.slice(0, 2048), big.slice(2048)];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
  });
  const streamed = await app.request(
    new Request(`http://localhost/test/probe/${ID}`, {
      method: "POST",
      headers: json,
      body: stream,
    }),
  );
  assert.equal(streamed.status, 413);
  await streamed.body?.cancel();
});

Deno.test("CORS allows configured origins with credentials and ignores others", async () => {
  const { app, db } = await appWithProbe({ BACKEND_CORS_ORIGINS: "http://allowed.test" });
  await using _ = db;
  const preflight = await app.request("/api/v1/utils/health-check/", {
    method: "OPTIONS",
    headers: { Origin: "http://allowed.test", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("Access-Control-Allow-Origin"), "http://allowed.test");
  assert.equal(preflight.headers.get("Access-Control-Allow-Credentials"), "true");
  const frontend = await app.request("/healthz", { headers: { Origin: "http://localhost:5173" } });
  assert.equal(frontend.headers.get("Access-Control-Allow-Origin"), "http://localhost:5173");
  await frontend.body?.cancel();
  const other = await app.request("/healthz", { headers: { Origin: "http://evil.test" } });
  assert.equal(other.headers.get("Access-Control-Allow-Origin"), null);
  await other.body?.cancel();
});

Deno.test("responses carry security headers", async () => {
  const { app, db } = await appWithProbe();
  await using _ = db;
  const res = await app.request("/healthz");
  await res.body?.cancel();
  assert.equal(res.headers.get("X-Content-Type-Options"), "nosniff");
  assert.equal(res.headers.get("X-Frame-Options"), "SAMEORIGIN");
  assert.equal(res.headers.get("Referrer-Policy"), "no-referrer");
});

Deno.test("/readyz is 200 on a migrated database", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const res = await app.request("/readyz");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ready" });
});

Deno.test("/readyz is 503 naming a pending migration", async () => {
  await using db = await migratedDatabase();
  const { loadMigrations } = await import("../db/migrate/mod.ts");
  const shipped = await loadMigrations();
  const extra = { ...shipped[0]!, version: 9999, name: "future", file: "9999_future.sql" };
  const { app } = await testApp(db, { migrations: [...shipped, extra] });
  const res = await app.request("/readyz");
  assert.equal(res.status, 503);
  assert.match((await res.json()).detail, /Migrations pending: 9999_future\.sql/);
});

/** A pool pointed at a port nothing listens on. */
function unreachableSql() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return createSql(`postgres://x:y@127.0.0.1:${port}/none`, { role: "test", poolSize: 2 });
}

Deno.test("an unreachable database is a 503 with Retry-After on every route, logged once", async () => {
  const sql = unreachableSql();
  try {
    const { app, logs } = await testApp(sql);
    for (
      const [path, init] of [
        ["/api/v1/flags/", {}],
        ["/api/v1/login/access-token", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: "username=someone%40example.com&password=whatever1",
        }],
        ["/api/v1/password-recovery/someone@example.com", { method: "POST" }],
      ] as const
    ) {
      const res = await app.request(path, init);
      assert.equal(res.status, 503, path);
      assert.equal(res.headers.get("Retry-After"), "2");
      assert.deepEqual(await res.json(), { detail: "Database unavailable, try again shortly" });
    }
    const warnings = logs.filter((l) =>
      l.msg === "database unavailable; answering 503 until it is back"
    );
    assert.equal(warnings.length, 1, "one warning for the outage, not one per request");
    assert.equal(warnings[0]!.code, "ECONNREFUSED");
    assert.ok(!logs.some((l) => l.level === "error"), "no 500s, no stacks");
  } finally {
    await sql.end();
  }
});

Deno.test("/readyz is 503 when Postgres does not answer", async () => {
  const sql = unreachableSql();
  try {
    const { app } = await testApp(sql);
    const res = await app.request("/readyz");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { detail: "Database is unreachable" });
  } finally {
    await sql.end();
  }
});
