import assert from "node:assert/strict";
import { serverFacts, serverWarnings, SUPPORTED_POSTGRES } from "../../db/server.ts";
import { migratedDatabase } from "../_db.ts";

Deno.test("serverWarnings() names an unsupported version and autovacuum off, and nothing else", () => {
  assert.deepEqual(serverWarnings({ version: 150020, autovacuum: true }), []);
  assert.deepEqual(serverWarnings({ version: 180004, autovacuum: true }), []);
  const [old, ...rest] = serverWarnings({ version: 140013, autovacuum: true });
  assert.match(old!, /^PostgreSQL 14 is older than Tusk supports \(15 to 18/);
  assert.deepEqual(rest, []);
  const [off] = serverWarnings({ version: 170006, autovacuum: false });
  assert.match(off!, /^autovacuum is off .*\(ALTER SYSTEM SET autovacuum = on;/);
});

Deno.test("serverFacts() reads the test server: a supported version, and its autovacuum", async () => {
  await using db = await migratedDatabase();
  const facts = await serverFacts(db.sql);
  const major = Math.floor(facts.version / 10_000);
  assert.ok(major >= SUPPORTED_POSTGRES.oldest && major <= SUPPORTED_POSTGRES.newest, `${major}`);
  const [shown] = await db.sql<{ autovacuum: string }[]>`show autovacuum`;
  assert.equal(facts.autovacuum, shown!.autovacuum === "on");
  assert.equal(serverWarnings(facts).length, facts.autovacuum ? 0 : 1);
});
