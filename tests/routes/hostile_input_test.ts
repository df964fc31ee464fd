import assert from "node:assert/strict";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";

Deno.test("hostile input is a 4xx, never a 500", async () => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db, { flags: { FF_ENABLE_REGISTRATION: true } });
  const u = await makeUser(db.sql, { superuser: true });
  const h = bearer(await login(app, u.email, u.password));
  const cases: [string, RequestInit][] = [
    [
      "/api/v1/users/signup",
      jsonBody("POST", {
        email: "nul@example.com",
        password: "password123",
        full_name: "a\u0000b",
      }),
    ],
    ["/api/v1/items/", jsonBody("POST", { title: "nul\u0000title" }, h)],
    ["/api/v1/items/?skip=100000000000000000000", { headers: h }],
    ["/api/v1/items/?skip=abc", { headers: h }],
    ["/api/v1/users/?limit=1e3x", { headers: h }],
    ["/api/v1/login/access-token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "username=a%00b@example.com&password=whatever",
    }],
    ["/api/v1/password-recovery/a%00b@example.com", { method: "POST" }],
    ["/api/v1/items/", {
      method: "POST",
      headers: { ...h, "Content-Type": "application/json" },
      body: "[1,2]",
    }],
    ["/api/v1/items/", {
      method: "POST",
      headers: { ...h, "Content-Type": "application/json" },
      body: "null",
    }],
    ["/api/v1/items/", {
      method: "POST",
      headers: { ...h, "Content-Type": "text/plain" },
      body: "title",
    }],
    [
      "/api/v1/reset-password/",
      jsonBody("POST", { token: "x".repeat(10_000), new_password: "password123" }),
    ],
  ];
  for (const [path, init] of cases) {
    const res = await call(app, path, init);
    assert.ok(
      res.status >= 400 && res.status < 500,
      `${path}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
});
