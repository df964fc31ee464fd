/**
 * A rule change reaches every process: three API processes answer OFREP
 * evaluations, and a change made in SQL, then one made through one
 * process's API, is answered by all three within a second.
 */
import assert from "node:assert/strict";
import { TEST_SECRET } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { freePort, startTusk, waitForHttp } from "../process.ts";

const SERVER_KEY = "processes-test-server-key-0123456789abcdef";
const WITHIN_MS = 1000;

async function evaluate(port: number, context: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/FF_PROC`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-API-Key": SERVER_KEY },
    body: JSON.stringify({ context }),
  });
  const body = await res.json();
  return body.value;
}

/** How long after `since` each port first answered `expected` (polling every 10 ms). */
async function seenWithin(ports: number[], context: Record<string, unknown>, expected: unknown) {
  const since = performance.now();
  return await Promise.all(ports.map(async (port) => {
    while (performance.now() - since < 5000) {
      if (await evaluate(port, context) === expected) return performance.now() - since;
      await new Promise((r) => setTimeout(r, 10));
    }
    return Infinity;
  }));
}

Deno.test("a rule change is answered by three API processes within a second", async () => {
  await using db = await migratedDatabase();
  const admin = await makeUser(db.sql, { superuser: true });
  await db.sql`insert into feature_flags (codename, is_active, rules) values ('FF_PROC', true,
    '[{"conditions": [{"attribute": "email", "operator": "ends_with", "value": "@example.com"}],
       "variant": "on"}]')`;
  const env = {
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET,
    EMAIL_TRANSPORT: "off",
    FLAGS_SERVER_KEY: SERVER_KEY,
  };
  const ports = [freePort(), freePort(), freePort()];
  await using _a = startTusk(["serve"], { ...env, PORT: String(ports[0]) });
  await using _b = startTusk(["serve"], { ...env, PORT: String(ports[1]) });
  await using _c = startTusk(["serve"], { ...env, PORT: String(ports[2]) });
  for (const port of ports) {
    await (await waitForHttp(`http://127.0.0.1:${port}/readyz`)).body?.cancel();
  }

  const outsider = { targetingKey: "u1", email: "eve@other.org" };
  for (const port of ports) assert.equal(await evaluate(port, outsider), false);

  // In plain SQL: the trigger's NOTIFY reaches every process.
  await db.sql`update feature_flags set rules = rules || '[{"conditions": [{"attribute": "email",
    "operator": "ends_with", "value": "@other.org"}], "variant": "on"}]'::jsonb
    where codename = 'FF_PROC'`;
  const sqlChange = await seenWithin(ports, outsider, true);
  console.log(`SQL change seen after ${sqlChange.map((ms) => ms.toFixed(0)).join(", ")} ms`);
  for (const ms of sqlChange) assert.ok(ms < WITHIN_MS, `seen after ${ms} ms`);

  // Through one process's API: the others follow as fast.
  const login = await fetch(`http://127.0.0.1:${ports[0]}/api/v1/login/access-token`, {
    method: "POST",
    body: new URLSearchParams({ username: admin.email, password: admin.password }),
  });
  const token = (await login.json()).access_token;
  const patched = await fetch(`http://127.0.0.1:${ports[0]}/api/v1/flags/FF_PROC`, {
    method: "PATCH",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ rules: [{ percentage: 0, variant: "on" }] }),
  });
  assert.equal(patched.status, 200, await patched.text());
  const apiChange = await seenWithin(ports, outsider, false);
  console.log(`API change seen after ${apiChange.map((ms) => ms.toFixed(0)).join(", ")} ms`);
  for (const ms of apiChange) assert.ok(ms < WITHIN_MS, `seen after ${ms} ms`);
});
