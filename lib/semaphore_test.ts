import assert from "node:assert/strict";
import { semaphore } from "./semaphore.ts";

Deno.test("semaphore() runs at most its slots at once, in arrival order, and frees a slot on a throw", async () => {
  const gate = semaphore(2);
  const started: number[] = [];
  const releases: (() => void)[] = [];
  const tasks = Array.from({ length: 5 }, (_, i) =>
    gate.run(() => {
      started.push(i);
      return new Promise<number>((resolve, reject) => {
        releases[i] = () => i === 1 ? reject(new Error("task 1 fails")) : resolve(i);
      });
    }));
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  assert.equal(gate.running, 2);
  assert.equal(gate.waiting, 3);
  releases[1]!();
  await assert.rejects(tasks[1]!, /task 1 fails/);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, [0, 1, 2], "a failed task frees its slot for the next in line");
  for (const i of [0, 2, 3, 4]) {
    releases[i]!();
    await tasks[i];
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(gate.peak, 2);
  assert.equal(gate.started, 5);
  assert.equal(gate.running, 0);
  assert.equal(gate.waiting, 0);
});
