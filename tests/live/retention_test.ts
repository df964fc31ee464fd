/**
 * Retention of the live log: deleting old history events and channel
 * messages records how far it went (a stream resuming from below gets a
 * `reset`), and expired tickets go.
 */
import assert from "node:assert/strict";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { deleteEventsBefore } from "../../db/history.ts";
import {
  deleteExpiredTickets,
  deleteLogBefore,
  insertTicket,
  prunedUpTo,
} from "../../db/live_events.ts";
import { publish } from "../../services/live/channels.ts";

Deno.test("pruning the history and channel messages records how far each went", async () => {
  await using db = await migratedDatabase();
  const user = await makeUser(db.sql);
  assert.deepEqual(await prunedUpTo(db.sql), { history: 0, messages: 0 });
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await publish(db.sql, `user:${user.user.id}`, { i }));
  await db
    .sql`update tusk_events.messages set at = now() - interval '2 days' where id <= ${ids[1]!}`;
  const cutoff = new Date(Date.now() - 3_600_000);
  assert.equal(
    await deleteLogBefore(db.sql, "messages", { before: cutoff, batch: 1 }),
    1,
    "one batch at a time",
  );
  assert.equal(await deleteLogBefore(db.sql, "messages", { before: cutoff, batch: 10 }), 1);
  assert.equal(await deleteLogBefore(db.sql, "messages", { before: cutoff, batch: 10 }), 0);
  assert.equal((await prunedUpTo(db.sql)).messages, ids[1]);

  await db.sql`update tusk_history.events set at = now() - interval '2 days'`;
  const [last] = await db.sql<{ top: number }[]>`
    select max(id)::int as top from tusk_history.events`;
  assert.ok(await deleteEventsBefore(db.sql, cutoff, 1000) > 0);
  assert.deepEqual(await prunedUpTo(db.sql), { history: last!.top, messages: ids[1] });
});

Deno.test("expired stream tickets are deleted, live ones kept", async () => {
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const ticket = (n: number, ms: number) =>
    insertTicket(db.sql, {
      hash: new Uint8Array(32).fill(n),
      userId: user.id,
      tokenVersion: 0,
      expiresAt: new Date(Date.now() + ms),
    });
  await ticket(1, -1000);
  await ticket(2, 60_000);
  assert.equal(await deleteExpiredTickets(db.sql), 1);
  const [left] = await db.sql<{ n: number }[]>`
    select count(*)::int as n from tusk_events.tickets`;
  assert.equal(left!.n, 1);
});
