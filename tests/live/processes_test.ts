/**
 * Live events across API processes: a stream on process A ends cleanly when
 * A shuts down, and the client resumes on process B from its last id with
 * nothing lost and nothing twice, including what was written in between.
 */
import assert from "node:assert/strict";
import { TEST_SECRET } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { freePort, startTusk, waitForHttp } from "../process.ts";
import { readSse } from "../_sse.ts";

Deno.test("a client on a stopped process resumes on another with no gap and no duplicate", async () => {
  await using db = await migratedDatabase();
  const owner = await makeUser(db.sql);
  const env = { DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET, EMAIL_TRANSPORT: "off" };
  const [portA, portB] = [freePort(), freePort()];
  await using a = startTusk(["serve"], { ...env, PORT: String(portA) });
  await using b = startTusk(["serve"], { ...env, PORT: String(portB) });
  await (await waitForHttp(`http://127.0.0.1:${portA}/readyz`)).body?.cancel();
  await (await waitForHttp(`http://127.0.0.1:${portB}/readyz`)).body?.cancel();
  const login = await fetch(`http://127.0.0.1:${portB}/api/v1/login/access-token`, {
    method: "POST",
    body: new URLSearchParams({ username: owner.email, password: owner.password }),
  });
  const auth = { Authorization: `Bearer ${(await login.json()).access_token}` };

  let written = 0;
  const writes: string[] = [];
  async function write(port: number) {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/items/`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ title: `item ${++written}` }),
    });
    assert.equal(res.status, 200);
    writes.push((await res.json()).id);
  }

  const onA = readSse(
    await fetch(`http://127.0.0.1:${portA}/api/v1/events?tables=items`, {
      headers: auth,
    }),
  );
  await onA.nextBlock();
  for (let i = 0; i < 3; i++) await write(portB);
  const received = (await onA.collect(2000, 3)).map((e) => ({
    id: e.id!,
    row: (e.data as { row_id: string }).row_id,
  }));
  assert.equal(received.length, 3);

  // A stops; writes go on through B meanwhile; the stream on A ends instead of hanging.
  a.kill("SIGTERM");
  const [, status] = await Promise.all([
    (async () => {
      for (let i = 0; i < 4; i++) await write(portB);
    })(),
    a.status,
  ]);
  assert.equal(status.code, 0, a.output());
  assert.equal(await onA.ended(2000), true);
  assert.match(a.output(), /"msg":"stopped"/);
  assert.doesNotMatch(a.output(), /shutdown deadline passed/, "open streams do not hold shutdown");
  for (let i = 0; i < 2; i++) await write(portB);

  const onB = readSse(
    await fetch(`http://127.0.0.1:${portB}/api/v1/events?tables=items`, {
      headers: { ...auth, "Last-Event-ID": received.at(-1)!.id },
    }),
  );
  try {
    await onB.nextBlock();
    for (let i = 0; i < 2; i++) await write(portB);
    const resumed = await onB.collect(3000, writes.length - 3);
    const all = [
      ...received.map((r) => r.row),
      ...resumed.map((e) => {
        return (e.data as { row_id: string }).row_id;
      }),
    ];
    assert.deepEqual(all, writes, "every write once, in order");
    assert.deepEqual(await onB.collect(500), [], "nothing more");
  } finally {
    await onB.close();
    await onA.close();
  }
  b.kill("SIGTERM");
  assert.equal((await b.status).code, 0);
});
