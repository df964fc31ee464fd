import assert from "node:assert/strict";
import { inAmbientTransaction, inSendScope } from "../../db/ambient.ts";
import type { Sql } from "../../db/client.ts";
import { installJobs } from "../../jobs/boss.ts";
import { JOBS } from "../../jobs/registry.ts";
import { createLogger } from "../../lib/logging.ts";
import { appWithUsers, testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { jsonBody } from "../_factories.ts";
import { recordEffect, TEST_JOBS } from "../fixtures/test_jobs.ts";

const KEY = "Idempotency-Key";

async function emailJobs(sql: Sql, to: string) {
  return await sql<{ id: string; singleton_key: string | null }[]>`
    select id, singleton_key from pgboss.job
    where name = 'send-email' and data->>'to' = ${to}`;
}

Deno.test("Idempotency-Key: a replayed POST /users/ sends one new-account email; a rolled-back one sends none", async () => {
  const { db, app, adminH } = await appWithUsers();
  await using _ = db;
  const email = "idem-jobs@example.com";
  const create = () =>
    app.request(
      "/api/v1/users/",
      jsonBody("POST", { email, password: "correct horse 1" }, { ...adminH, [KEY]: "new-1" }),
    );

  // Storing the answer fails: the user and the job it sent roll back together.
  await db.sql`alter table idempotency_keys add constraint refuse check (status < 0) not valid`;
  assert.ok((await create()).status >= 400);
  assert.equal((await emailJobs(db.sql, email)).length, 0, "a rolled-back request sends nothing");
  await db.sql`alter table idempotency_keys drop constraint refuse`;

  const first = await create();
  assert.equal(first.status, 200);
  const replay = await create();
  assert.equal(replay.headers.get("Idempotent-Replayed"), "true");
  const jobs = await emailJobs(db.sql, email);
  assert.equal(jobs.length, 1, "one new-account email for the request and its replay");
  assert.match(jobs[0]!.singleton_key!, /^idempotency:[0-9a-f]{64}:send-email:1$/);

  // Without the header, nothing is keyed.
  const plain = await app.request(
    "/api/v1/users/",
    jsonBody("POST", { email: "plain@example.com", password: "correct horse 1" }, adminH),
  );
  assert.equal(plain.status, 200);
  assert.equal((await emailJobs(db.sql, "plain@example.com"))[0]!.singleton_key, null);
});

Deno.test("a request run again under its key (its answer not kept) sends each job once", async () => {
  await using db = await migratedDatabase();
  await installJobs(db.url, TEST_JOBS, createLogger({ level: "error" }));
  await testApp(db, { jobs: [...JOBS, ...TEST_JOBS] });
  // What the idempotency middleware does for each run of one request: a transaction, one scope.
  const handler = () =>
    db.sql.begin((tx) =>
      inAmbientTransaction(tx, () =>
        inSendScope("idempotency:abc", async () => [
          await recordEffect.delay({ key: "one" }),
          await recordEffect.delay({ key: "two" }),
        ]))
    );
  const [a, b] = await handler();
  assert.ok(a && b && a !== b, "two sends, two jobs");
  const again = await handler();
  assert.deepEqual(again, [null, null], "the same sends again are dropped");
  const count = async () =>
    (await db.sql`select count(*)::int as n from pgboss.job where name = 'test-record'`)[0]!.n;
  assert.equal(await count(), 2);
  // Another scope (another key, or another user) sends its own.
  await db.sql.begin((tx) =>
    inAmbientTransaction(
      tx,
      () => inSendScope("idempotency:def", () => recordEffect.delay({ key: "one" })),
    )
  );
  assert.equal(await count(), 3);
});
