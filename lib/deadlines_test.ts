import assert from "node:assert/strict";
import { deadlines } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a deadline fires once, about when due; a cancelled one never does; then no timer is left", async () => {
  const after = deadlines(5);
  const fired: string[] = [];
  const started = performance.now();
  let firedAt = 0;
  after(30, () => {
    fired.push("due");
    firedAt = performance.now() - started;
  });
  const cancel = after(30, () => fired.push("cancelled"));
  cancel();
  cancel(); // twice is harmless
  await sleep(120);
  assert.deepEqual(fired, ["due"]);
  assert.ok(firedAt >= 30, `fired after ${firedAt} ms`);
  // The test sanitizer fails the test if the interval were still running here.
});

Deno.test("deadlines due together fire in the order they were set, whatever their lengths", async () => {
  const after = deadlines(50);
  const fired: number[] = [];
  after(20, () => fired.push(1));
  after(5, () => fired.push(2));
  after(10, () => fired.push(3));
  await sleep(150);
  assert.deepEqual(fired, [1, 2, 3]);
});

Deno.test("a deadline that cancels the next due one, or sets another, while firing", async () => {
  const after = deadlines(40);
  const fired: string[] = [];
  let cancelSecond = () => {};
  after(5, () => {
    fired.push("first");
    cancelSecond();
    after(5, () => fired.push("set while firing"));
  });
  cancelSecond = after(5, () => fired.push("second"));
  after(5, () => fired.push("third"));
  await sleep(200);
  assert.deepEqual(fired, ["first", "third", "set while firing"]);
});

Deno.test("many deadlines set and cancelled at random: exactly the ones left fire", async () => {
  const after = deadlines(5);
  const fired = new Set<number>();
  const expected = new Set<number>();
  const cancels: (() => void)[] = [];
  for (let i = 0; i < 500; i++) {
    cancels.push(after(10 + (i % 7), () => fired.add(i)));
    expected.add(i);
    // Cancel an earlier one now and then, from the head, the tail and the middle.
    if (i % 3 === 0) {
      const j = [0, i, Math.floor(i / 2)][i % 9 / 3]!;
      cancels[j]!();
      expected.delete(j);
    }
  }
  await sleep(150);
  assert.deepEqual([...fired].sort((a, b) => a - b), [...expected].sort((a, b) => a - b));
});
