import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { testApp, testConfig } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, login, makeUser } from "../_factories.ts";
import { startProvider } from "../_oidc.ts";

const AUDIENCE = "tusk-api";

async function setup(
  options: { provision?: boolean; cooldown?: number; extra?: Record<string, string> } = {},
) {
  const db = await migratedDatabase();
  const provider = await startProvider({ audience: AUDIENCE });
  db.defer(async () => await provider[Symbol.asyncDispose]());
  const { app, logs } = await testApp(db, {
    env: {
      AUTH_ISSUERS: JSON.stringify([{ issuer: provider.issuer, audience: AUDIENCE }]),
      AUTH_AUTO_PROVISION: options.provision === false ? "false" : "true",
      AUTH_JWKS_COOLDOWN_SECONDS: String(options.cooldown ?? 30),
      ...options.extra,
    },
  });
  return { db, app, provider, logs };
}

async function me(app: Awaited<ReturnType<typeof setup>>["app"], token: string) {
  const res = await app.request("/api/v1/users/me", { headers: bearer(token) });
  return { status: res.status, body: await res.json() };
}

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

Deno.test("a trusted issuer's RSA or EC token works anywhere a Tusk token does; the user is provisioned once, never a superuser", async () => {
  const { db, app, provider } = await setup();
  await using _ = db;
  const rsa = await provider.token({ is_superuser: true, role: "admin" });
  const first = await me(app, rsa);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.email, "ext@example.com");
  assert.equal(first.body.is_superuser, false);
  assert.equal((await me(app, rsa)).body.id, first.body.id);
  const item = await app.request("/api/v1/items/", {
    method: "POST",
    headers: { ...bearer(rsa), "Content-Type": "application/json" },
    body: JSON.stringify({ title: "from an external token" }),
  });
  assert.equal(item.status, 200);
  const [count] = await db
    .sql`select count(*)::int as n from users where email = 'ext@example.com'`;
  assert.equal(count!.n, 1);
  const [identity] = await db.sql`select issuer, subject, user_id from user_identities`;
  assert.deepEqual({ ...identity }, {
    issuer: provider.issuer,
    subject: "user_2abc",
    user_id: first.body.id,
  });
  // An EC key signs for another subject: another user.
  const jwks = await (await fetch(`${provider.issuer}/jwks.json`)).json();
  const ecKid = jwks.keys.find((k: { alg: string }) => k.alg === "ES256").kid;
  const other = await provider.token({ sub: "user_other", email: "other@example.com" }, {
    kid: ecKid,
  });
  const second = await me(app, other);
  assert.equal(second.status, 200);
  assert.equal(second.body.email, "other@example.com");
  // So does an Ed25519 key (EdDSA).
  const ed = await provider.addKey("EdDSA");
  const third = await me(
    app,
    await provider.token({ sub: "user_ed", email: "ed@example.com" }, { kid: ed }),
  );
  assert.equal(third.status, 200, JSON.stringify(third.body));
  // Tusk's own tokens keep working beside them.
  const local = await makeUser(db.sql);
  assert.equal((await me(app, await login(app, local.email, local.password))).status, 200);
});

Deno.test("refused alike (403): untrusted issuer, wrong audience, alg none, HS256 with the public key, expired, not yet valid, tampered", async () => {
  const { db, app, provider } = await setup();
  await using _ = db;
  await using stranger = await startProvider({ audience: AUDIENCE });
  const now = Math.floor(Date.now() / 1000);
  const good = await provider.token();
  const [header, payload] = good.split(".");
  const jwks = await (await fetch(`${provider.issuer}/jwks.json`)).json();
  const rsaJwk = jwks.keys.find((k: { alg: string }) => k.alg === "RS256");
  const claims = { iss: provider.issuer, aud: AUDIENCE, sub: "user_2abc", exp: now + 300 };
  const refused: Record<string, string> = {
    "untrusted issuer": await stranger.token(),
    "untrusted issuer naming a trusted one's kid": await stranger.token({ iss: "https://evil" }),
    "wrong audience": await provider.token({ aud: "someone-else" }),
    "alg none": `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`,
    "HS256 signed with the public key": await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid: rsaJwk.kid })
      .sign(new TextEncoder().encode(JSON.stringify(rsaJwk))),
    "expired beyond the skew": await provider.token({ exp: now - 120, iat: now - 600 }),
    "not yet valid": await provider.token({ nbf: now + 120 }),
    "tampered claims": `${header}.${b64url({ ...claims, sub: "someone" })}.${good.split(".")[2]}`,
    "no subject": await provider.token({ sub: undefined }),
    "signature cut": `${header}.${payload}.`,
  };
  for (const [label, token] of Object.entries(refused)) {
    const res = await me(app, token);
    assert.equal(res.status, 403, label);
    assert.deepEqual(res.body, { detail: "Could not validate credentials" }, label);
  }
  assert.equal((await db.sql`select 1 from users`).length, 0, "nobody was provisioned");
  // A small clock skew is allowed.
  const skewed = await provider.token({ exp: now - 10, iat: now - 300 });
  assert.equal((await me(app, skewed)).status, 200);
});

Deno.test("provisioning: off refuses unknown identities; an unverified or missing email is refused; an email taken locally is not linked", async () => {
  {
    const { db, app, provider } = await setup({ provision: false });
    await using _ = db;
    const res = await me(app, await provider.token());
    assert.deepEqual(res, { status: 403, body: { detail: "Could not validate credentials" } });
    assert.equal((await db.sql`select 1 from users`).length, 0);
  }
  const { db, app, provider } = await setup();
  await using _ = db;
  for (
    const claims of [
      { email_verified: false },
      { email: undefined },
      { email: "not an email" },
    ]
  ) {
    const res = await me(app, await provider.token(claims));
    assert.equal(res.status, 403, JSON.stringify(claims));
  }
  const local = await makeUser(db.sql, { email: "taken@example.com" });
  const res = await me(app, await provider.token({ email: "taken@example.com" }));
  assert.equal(res.status, 403);
  assert.equal((await db.sql`select 1 from user_identities`).length, 0);
  assert.equal((await me(app, await login(app, local.email, local.password))).status, 200);
});

Deno.test("deactivating or deleting the local user locks an external identity out at once, and a deleted one is not provisioned again", async () => {
  const { db, app, provider } = await setup();
  await using _ = db;
  const token = await provider.token();
  const { body } = await me(app, token);
  await db.sql`update users set is_active = false where id = ${body.id}`;
  assert.deepEqual(await me(app, token), { status: 400, body: { detail: "Inactive user" } });
  await db.sql`delete from users where id = ${body.id}`;
  assert.deepEqual(await me(app, token), { status: 404, body: { detail: "User not found" } });
  assert.deepEqual(await me(app, await provider.token()), {
    status: 404,
    body: { detail: "User not found" },
  });
  assert.equal((await db.sql`select 1 from users`).length, 0);
});

Deno.test("keys: rotation is picked up, made-up kids are rate limited, and while the JWKS is down cached keys work and new ones are 503", async () => {
  const { db, app, provider } = await setup({ cooldown: 1 });
  await using _ = db;
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  assert.equal((await me(app, await provider.token())).status, 200);
  assert.equal(provider.jwksFetches(), 1);
  await wait(1100);

  const rotated = await provider.addKey("RS256");
  assert.equal((await me(app, await provider.token({}, { kid: rotated }))).status, 200);
  assert.equal(provider.jwksFetches(), 2, "an unknown kid refetched the JWKS");

  // A key the provider never published: one refetch, then the cooldown holds.
  await wait(1100);
  const unpublished = await provider.addKey("ES256");
  provider.keepOnly(
    ...(await (await fetch(`${provider.issuer}/jwks.json`)).json()).keys
      .map((k: { kid: string }) => k.kid).filter((k: string) => k !== unpublished),
  );
  const before = provider.jwksFetches();
  for (let i = 0; i < 5; i++) {
    assert.equal((await me(app, await provider.token({}, { kid: unpublished }))).status, 403);
  }
  assert.equal(provider.jwksFetches() - before, 1, "five made-up kids, one fetch");

  await wait(1100);
  const late = await provider.addKey("RS256");
  provider.setDown(true);
  const down = await app.request("/api/v1/users/me", {
    headers: bearer(await provider.token({}, { kid: late })),
  });
  assert.equal(down.status, 503);
  assert.equal(down.headers.get("Retry-After"), "5");
  assert.match((await down.json()).detail, /signing keys could not be fetched/);
  assert.equal((await me(app, await provider.token({}, { kid: rotated }))).status, 200);
  provider.setDown(false);
  await wait(1100);
  assert.equal((await me(app, await provider.token({}, { kid: late }))).status, 200);
});

Deno.test("AUTH_ISSUERS that cannot be read is a configuration error that says what to fix", () => {
  for (
    const [value, message] of [
      ["not json", /AUTH_ISSUERS: expected JSON/],
      ['{"issuer": "https://a"}', /expected a JSON array/],
      ['[{"issuer": "http://example.com", "audience": "x"}]', /must be an https URL/],
      ['[{"issuer": "https://a.example"}]', /"audience" must be a string or a list/],
      ['[{"issuer": "https://a.example", "audience": "x", "jwks_url": "ftp://x"}]', /jwks_url/],
    ] as const
  ) {
    assert.throws(() => testConfig({ AUTH_ISSUERS: value }), message, value);
  }
  const config = testConfig({
    AUTH_ISSUERS: '[{"issuer": "https://clerk.example.com", "audience": ["a", "b"]}]',
  });
  assert.deepEqual(config.authIssuers, [{
    issuer: "https://clerk.example.com",
    audience: ["a", "b"],
    jwksUrl: undefined,
    emailClaim: "email",
  }]);
});

Deno.test("a configured jwks_url is used without discovery, and email_claim names where the email is", async () => {
  const db = await migratedDatabase();
  await using _ = db;
  await using provider = await startProvider({ audience: AUDIENCE });
  const { app } = await testApp(db, {
    env: {
      AUTH_ISSUERS: JSON.stringify([{
        issuer: provider.issuer,
        audience: [AUDIENCE, "another"],
        jwks_url: `${provider.issuer}/jwks.json`,
        email_claim: "https://tusk.example/email",
      }]),
      AUTH_AUTO_PROVISION: "true",
    },
  });
  const token = await provider.token({
    email: "wrong@example.com",
    "https://tusk.example/email": "claimed@example.com",
  });
  const res = await me(app, token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.email, "claimed@example.com");
  assert.equal(provider.discoveryFetches(), 0);
  assert.equal(provider.jwksFetches(), 1);
});
