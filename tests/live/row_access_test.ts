/**
 * The visibility rule has two readers: `canSee()` in TypeScript (routes and
 * the live fan-out) and the replay's SQL. They must agree on every event.
 */
import assert from "node:assert/strict";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { logTop, readRange } from "../../db/live_events.ts";
import { canSee, OWNER_COLUMN, SELF_TABLE } from "../../services/row_access.ts";

Deno.test("canSee() and the replay's SQL agree on who sees each event", async () => {
  await using db = await migratedDatabase();
  const people = [
    await makeUser(db.sql),
    await makeUser(db.sql),
    await makeUser(db.sql),
    await makeUser(db.sql, { superuser: true }),
  ].map((u) => u.user);
  const [a, b, c] = people;
  await db.sql`create table gizmos (id serial primary key, name text)`;
  await db.sql`select tusk_history.track('gizmos')`;
  for (let i = 0; i < 30; i++) {
    const owner = people[i % 3]!;
    const [item] = await db.sql<{ id: string }[]>`
      insert into items (title, owner_id) values (${"item " + i}, ${owner.id}) returning id`;
    if (i % 4 === 0) {
      // Given away: the old owner sees it leave, the new one arrive.
      await db.sql`update items set owner_id = ${people[(i + 1) % 3]!.id} where id = ${item!.id}`;
    }
    if (i % 5 === 0) await db.sql`delete from items where id = ${item!.id}`;
    await db.sql`insert into gizmos (name) values (${"g" + i})`;
  }
  for (const u of [a!, b!, c!]) {
    await db.sql`update users set full_name = 'renamed' where id = ${u.id}`;
  }
  const range = { after: 0, upTo: await logTop(db.sql), limit: 10_000 };
  const everything = await readRange(db.sql, range, { tables: "all", channels: [] });
  assert.ok(everything.length > 70, String(everything.length));
  for (const viewer of people) {
    const bySql = await readRange(db.sql, range, {
      tables: "all",
      channels: [],
      visibleTo: viewer.is_superuser
        ? undefined
        : { viewerId: viewer.id, selfTable: SELF_TABLE, ownerColumn: OWNER_COLUMN },
    });
    const byTs = everything.filter((e) => e.kind === "change" && canSee(viewer, e));
    assert.deepEqual(bySql.map((e) => e.id), byTs.map((e) => e.id));
    if (!viewer.is_superuser) {
      assert.ok(byTs.length > 10 && byTs.length < everything.length / 2);
      assert.ok(byTs.every((e) => e.kind === "change" && e.table !== "gizmos"));
    }
  }
});
