/**
 * The tail reader as a property, against a real Postgres: whatever concurrent
 * writers do (bursts larger than a read, tracked rows, rollbacks whole or to
 * a savepoint, long and short transactions, and the sequence jumping as it
 * does after a crash), the ids it hands on only grow, and in the end they are
 * exactly the ids that committed. A reader that skipped a hole too early
 * misses an id or hands it on late (out of order); one that never passed a
 * hole stops, and the wait for the rest times out. Each seed replays its run's
 * choices; the last seed is new each run, and a failure names it.
 *
 * Without bc0c111's fix (a hole seen in a full read noted no wait) every seed
 * fails, and so does a reader that passes holes without waiting. A reader that
 * trusts the read in which the writers were seen gone (a race of microseconds:
 * a commit between its snapshot and its look at the locks) failed once in 20 seed runs.
 */
import assert from "node:assert/strict";
import { createSql, type Sql, type Tx } from "../../db/client.ts";
import type { LogEntry } from "../../db/live_events.ts";
import { createLogger } from "../../lib/logging.ts";
import { startTailer } from "../../services/live/tailer.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { type Random, seeded } from "../_random.ts";

// Small, so bursts span several reads and holes land at every place in a batch.
const BATCH = 7;
const WRITERS = 6;
const TRANSACTIONS_PER_WRITER = 100;
// Every committed id handed on by then, or the reader is stuck.
const SETTLE_MS = 15_000;

class Rollback extends Error {}

/** One step inside a transaction: messages (up to three reads' worth), tracked rows, or a pause. */
async function step(tx: Tx, r: Random, ownerId: string): Promise<void> {
  const roll = r.next();
  if (roll < 0.45) {
    const count = r.int(1, 3 * BATCH);
    await tx`insert into tusk_events.messages (channel, payload)
             select 'prop:burst', to_jsonb(n) from generate_series(1, ${count}::int) n`;
  } else if (roll < 0.8) {
    const count = r.int(1, 3);
    await tx`insert into items (title, owner_id)
             select 'prop ' || n, ${ownerId} from generate_series(1, ${count}::int) n`;
  } else {
    await new Promise((resolve) => setTimeout(resolve, r.int(0, 40)));
  }
}

/** A transaction of a few steps, some undone to a savepoint; a quarter roll back whole. */
async function transaction(sql: Sql, r: Random, ownerId: string): Promise<void> {
  const steps = r.int(1, 4);
  const rollBack = r.next() < 0.25;
  try {
    await sql.begin(async (tx) => {
      for (let i = 0; i < steps; i++) {
        if (r.next() < 0.2) {
          await tx.savepoint(async (sp) => {
            await step(sp, r, ownerId);
            throw new Rollback();
          }).catch((error) => {
            if (!(error instanceof Rollback)) throw error;
          });
        } else {
          await step(tx, r, ownerId);
        }
      }
      if (rollBack) throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
}

/**
 * The ids a crash loses (those the sequence had cached): taken outside any writer's lock, and never
 * written. (Not `setval`: a writer taking ids at the same time could be handed them again.)
 */
async function jump(sql: Sql, r: Random): Promise<void> {
  await sql`select nextval('tusk_history.events_id_seq')
            from generate_series(1, ${r.int(1, 5 * BATCH)}::int)`;
}

/** Every id in the log above `after`, as committed. */
async function committedIds(sql: Sql, after: number): Promise<number[]> {
  const rows = await sql<{ id: string }[]>`
    select id from tusk_history.events where id > ${after}
    union all
    select id from tusk_events.messages where id > ${after}
    order by id`;
  return rows.map((row) => Number(row.id));
}

async function run(seed: number): Promise<void> {
  const where = `seed ${seed}`;
  await using db = await migratedDatabase();
  const { user } = await makeUser(db.sql);
  const writers = createSql(db.url, { role: "test", poolSize: WRITERS });
  const readerSql = createSql(db.url, { role: "test", poolSize: 1 });
  const logged: string[] = [];
  const log = createLogger({ level: "debug", write: (line) => logged.push(line) });
  const handed: number[] = [];
  const disorder: string[] = [];
  const onEntries = (entries: LogEntry[]) => {
    for (const { id } of entries) {
      const last = handed.at(-1) ?? 0;
      if (id <= last) disorder.push(`${id} after ${last}`);
      handed.push(id);
    }
  };
  const tailer = await startTailer(readerSql, { log, pollMs: 5, batch: BATCH, onEntries });
  const start = tailer.mark;
  try {
    const r = seeded(seed);
    // Each writer draws from its own generator, so its choices do not depend on the others' pace.
    const seeds = Array.from({ length: WRITERS }, () => r.int(0, 2 ** 31));
    await Promise.all(seeds.map(async (writerSeed) => {
      const w = seeded(writerSeed);
      for (let i = 0; i < TRANSACTIONS_PER_WRITER; i++) {
        if (w.next() < 0.05) await jump(writers, w);
        else await transaction(writers, w, user.id);
      }
    }));
    const expected = await committedIds(db.sql, start);
    assert.ok(expected.length > 500, `${where}: the run wrote ${expected.length} entries`);
    const deadline = Date.now() + SETTLE_MS;
    while (handed.length < expected.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(disorder, [], `${where}: ids handed on out of order`);
    const seen = new Set(handed);
    const missing = expected.filter((id) => !seen.has(id));
    assert.deepEqual(
      missing.slice(0, 10),
      [],
      `${where}: ${missing.length} of ${expected.length} committed ids never handed on ` +
        `(mark ${tailer.mark}); the reader logged: ${logged.slice(-5).join(" ")}`,
    );
    assert.deepEqual(handed, expected, `${where}: handed on ids that did not commit`);
    assert.ok(tailer.mark >= expected.at(-1)!, `${where}: the mark passed every entry`);
  } finally {
    await tailer.stop();
    await readerSql.end();
    await writers.end();
  }
}

for (const seed of [1, 20261207, 0x7475736b, Date.now() % 2 ** 31]) {
  Deno.test(`the tail reader hands on exactly the committed ids, in order (seed ${seed})`, () =>
    run(seed));
}
