import assert from "node:assert/strict";
import { scrub, scrubText } from "./error_reports.ts";

Deno.test("scrubText() removes tokens, credentials and email addresses", () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWhlcmU";
  const text = `user a.b+c@example.co.uk sent Bearer abc.def-ghi and ${jwt}; ` +
    `password=hunter2, api_key: "k-123", reset?token=t0k3n&x=1`;
  const out = scrubText(text);
  for (const secret of ["a.b+c@example.co.uk", "abc.def-ghi", jwt, "hunter2", "k-123", "t0k3n"]) {
    assert.ok(!out.includes(secret), `${secret} in ${out}`);
  }
  assert.match(out, /\[email\].*Bearer \[redacted\].*\[jwt\].*password=\[redacted\]/);
  assert.match(out, /&x=1$/, "what follows a secret stays");
});

Deno.test("scrubText() removes the password of a connection string, and pwd= and private_key=", () => {
  const out = scrubText(
    "connect postgres://app:s3cr%40t@db.internal:5432/app failed; " +
      "smtp://mailer:hunter2@smtp.example.com; pwd=letmein private_key: MIIEvQ",
  );
  for (const secret of ["s3cr%40t", "hunter2", "letmein", "MIIEvQ"]) {
    assert.ok(!out.includes(secret), `${secret} in ${out}`);
  }
  assert.match(out, /postgres:\/\/app:\[redacted\]@db\.internal:5432\/app failed/);
  assert.match(out, /smtp:\/\/mailer:\[redacted\]@smtp\.example\.com/);
});

Deno.test("scrub() drops secret-named values at any depth and scrubs every string", () => {
  const out = scrub({
    message: "for x@y.io",
    extra: {
      password: "p",
      pwd: "p2",
      private_key: "-----BEGIN PRIVATE KEY-----",
      nested: [{ authorization: "Basic zz", ok: "fine" }],
    },
    headers: { cookie: "c=1", "content-type": "text/plain" },
  });
  assert.deepEqual(out, {
    message: "for [email]",
    extra: { nested: [{ ok: "fine" }] },
    headers: { "content-type": "text/plain" },
  });
});
