import assert from "node:assert/strict";
import { guardDriverCrashes, isDriverWriteAfterClose } from "../../db/driver_guard.ts";
import { createLogger } from "../../lib/logging.ts";

/** The error postgres.js throws from its write timer after a connection is gone. */
function driverError(): TypeError {
  const error = new TypeError("Cannot read properties of null (reading 'write')");
  error.stack = `${error.message}\n    at Immediate.nextWrite (file:///x/node_modules/.deno/` +
    `postgres@3.4.9/node_modules/postgres/src/connection.js:255:22)`;
  return error;
}

Deno.test("the driver guard keeps the process alive for postgres.js's write-after-close, only", () => {
  assert.ok(isDriverWriteAfterClose(driverError()));
  assert.ok(
    !isDriverWriteAfterClose(new TypeError("Cannot read properties of null (reading 'write')")),
  );
  assert.ok(!isDriverWriteAfterClose(new Error("boom")));

  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (line) => lines.push(line) });
  const unguard = guardDriverCrashes(log);
  try {
    const known = new ErrorEvent("error", { error: driverError(), cancelable: true });
    globalThis.dispatchEvent(known);
    assert.ok(known.defaultPrevented, "the known defect is absorbed");
    assert.equal(lines.length, 1);
    // A crash drops every pending write at once: one line per outage, not one per write.
    for (let i = 0; i < 3; i++) {
      const again = new ErrorEvent("error", { error: driverError(), cancelable: true });
      globalThis.dispatchEvent(again);
      assert.ok(again.defaultPrevented);
    }
    assert.equal(lines.length, 1);
    const other = new ErrorEvent("error", { error: new TypeError("mine"), cancelable: true });
    globalThis.dispatchEvent(other);
    assert.ok(!other.defaultPrevented, "any other uncaught error still ends the process");
  } finally {
    unguard();
  }
  const after = new ErrorEvent("error", { error: driverError(), cancelable: true });
  globalThis.dispatchEvent(after);
  assert.ok(!after.defaultPrevented, "removed with its last user");
});
