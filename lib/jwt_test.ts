import assert from "node:assert/strict";
import { InvalidTokenError, signAccessToken, verifyAccessToken } from "./jwt.ts";

const SECRET = "s".repeat(40);
const subject = () => ({ sub: crypto.randomUUID(), ver: 0 });

Deno.test("a remembered token is still refused once it expires", async () => {
  // exp = iat + 1 s: verified (and remembered) now, expired within two seconds.
  const token = await signAccessToken(SECRET, subject(), 1 / 60);
  const first = await verifyAccessToken(SECRET, token);
  assert.deepEqual(await verifyAccessToken(SECRET, token), first, "the remembered claims");
  await new Promise((r) => setTimeout(r, (first.exp + 1) * 1000 - Date.now()));
  await assert.rejects(verifyAccessToken(SECRET, token), InvalidTokenError);
  await assert.rejects(verifyAccessToken(SECRET, token), InvalidTokenError, "and again");
});

Deno.test("a token remembered under one secret does not pass under another", async () => {
  const token = await signAccessToken(SECRET, subject(), 5);
  await verifyAccessToken(SECRET, token);
  await assert.rejects(verifyAccessToken("t".repeat(40), token), InvalidTokenError);
  // One character changed in the signature: a different string, verified in full.
  const tampered = token.slice(0, -2) + (token.at(-2) === "A" ? "B" : "A") + token.at(-1);
  await assert.rejects(verifyAccessToken(SECRET, tampered), InvalidTokenError);
});
