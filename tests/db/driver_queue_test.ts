/**
 * The vendored driver's queue (vendor/postgres/src/queue.js, changed from the
 * published package): against a plain array model, through long runs that
 * never let it empty (the pool's steady state) and runs that do.
 */
import assert from "node:assert/strict";
// @ts-types="./_queue.d.ts"
import Queue from "../../vendor/postgres/src/queue.js";
import { seeded } from "../_random.ts";

for (const [name, pushBias] of [["never empties", 0.52], ["often empties", 0.4]] as const) {
  Deno.test(`the driver's queue matches an array through 200,000 operations (${name})`, () => {
    const { next } = seeded(name.length * 7919);
    const queue = Queue<{ id: number }>();
    const model: { id: number }[] = [];
    let id = 0;
    // A few items always in it, as a pool under load keeps some connection busy.
    for (; id < 8; id++) model.push(queue.push({ id }));
    for (let step = 0; step < 200_000; step++) {
      const roll = next();
      if (roll < pushBias || model.length === 0) {
        const item = { id: id++ };
        assert.equal(queue.push(item), item);
        model.push(item);
      } else if (roll < 0.85) {
        assert.equal(queue.shift(), model.shift(), `step ${step}: shift`);
      } else {
        // Remove one that is there, or one that was taken already (not found: null).
        const present = next() < 0.7 && model.length > 0;
        const item = present ? model[Math.floor(next() * model.length)]! : { id: -1 };
        const at = model.indexOf(item);
        if (at >= 0) model.splice(at, 1);
        assert.equal(queue.remove(item), at >= 0 ? item : null, `step ${step}: remove`);
      }
      assert.equal(queue.length, model.length, `step ${step}: length`);
    }
    while (model.length > 0) assert.equal(queue.shift(), model.shift());
    assert.equal(queue.length, 0);
  });
}

Deno.test("an item taken by shift() is not found by remove() afterwards", () => {
  const queue = Queue<{ id: number }>();
  const items = Array.from({ length: 3000 }, (_, id) => queue.push({ id }));
  // Past the compaction point (1,024 taken and half of the array).
  for (let i = 0; i < 2000; i++) assert.equal(queue.shift(), items[i]);
  assert.equal(queue.remove(items[5]!), null);
  assert.equal(queue.remove(items[1999]!), null);
  assert.equal(queue.remove(items[2500]!), items[2500]);
  assert.equal(queue.length, 999);
  assert.equal(queue.shift(), items[2000]);
});
