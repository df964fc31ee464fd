import assert from "node:assert/strict";
import { createLogger, type Fields, isoNow } from "./logging.ts";

/** What a line must be: the object Tusk always logged, `JSON.stringify`-ed, key order included. */
function expected(base: Fields, msg: string, fields: Fields, time: string): string {
  const line: Fields = { time, level: "info", msg, ...base };
  for (const [key, value] of Object.entries(fields)) {
    line[key] = value instanceof Error
      ? { name: value.name, message: value.message, code: undefined, stack: value.stack }
      : value;
  }
  return JSON.stringify(line);
}

function logged(base: Fields, msg: string, fields: Fields): string {
  const lines: string[] = [];
  createLogger({ base, write: (line) => lines.push(line) }).info(msg, fields);
  assert.equal(lines.length, 1);
  return lines[0]!;
}

Deno.test("isoNow() is toISOString() to the millisecond, across seconds and padding", () => {
  const start = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
  for (let t = start; t < start + 2100; t += 7) {
    assert.equal(isoNow(t), new Date(t).toISOString());
  }
  for (const t of [0, 5, 99, 100, 999, 1000, 1_767_225_599_009]) {
    assert.equal(isoNow(t), new Date(t).toISOString());
  }
});

Deno.test("a log line is the JSON object it always was, key for key and in order", () => {
  const error = new Error("boom");
  const cases: [Fields, string, Fields][] = [
    [{ role: "api" }, "request", { method: "GET", status: 200, ms: 1.5, request_id: "abc" }],
    [{}, "plain", {}],
    [{ role: "api" }, 'quotes " and \\ and \n and ünïcode', {
      'odd "key"': "v\u2028w",
      nested: { a: [1, null] },
    }],
    [{ role: "api" }, "gaps", { skipped: undefined, fn: () => 1, kept: false, when: new Date(0) }],
    [{ role: "api" }, "error", { error }],
    // A field named like a key before it takes that key's place, as in an object.
    [{ role: "api" }, "override", { role: "worker", extra: 1 }],
    [{ role: "api" }, "override", { msg: "other", level: "x" }],
    // A base key named like a line key, likewise.
    [{ level: "custom", role: "api" }, "base override", { a: 1 }],
  ];
  for (const [base, msg, fields] of cases) {
    const line = logged(base, msg, fields);
    const time = JSON.parse(line).time as string;
    assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(line, expected(base, msg, fields, time), msg);
  }
});
