import assert from "node:assert/strict";
import { hashPassword, passwordWork, verifyPassword } from "./password.ts";

Deno.test("argon2 work is capped at one task per core: a burst of hashes queues", async () => {
  const slots = navigator.hardwareConcurrency;
  assert.equal(passwordWork.slots, slots);
  const burst = Array.from({ length: slots * 4 }, (_, i) => hashPassword(`password ${i}`));
  // Queued at once, before any of them runs: the cap, not the event loop, decides.
  assert.equal(passwordWork.running, slots);
  assert.equal(passwordWork.waiting, slots * 3);
  const hashes = await Promise.all(burst);
  assert.ok(passwordWork.peak <= slots, `peak ${passwordWork.peak} of ${slots}`);
  assert.equal(passwordWork.running, 0);
  assert.equal((await verifyPassword("password 3", hashes[3]!)).ok, true);
});
