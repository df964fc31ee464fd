/**
 * A real OpenID provider for tests: an HTTP server with a discovery document
 * and a JWKS, serving keys generated here (RSA and EC), which a test can
 * rotate or take down; and tokens signed with them.
 *
 * @module
 */
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

type Alg = "RS256" | "ES256" | "EdDSA";

interface Key {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A running provider; dispose to stop it. */
export interface TestProvider extends AsyncDisposable {
  /** Its issuer URL (the tokens' `iss`). */
  issuer: string;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  /** How many times the discovery document was fetched. */
  discoveryFetches(): number;
  /** Adds a new key (published in the JWKS); returns its kid. */
  addKey(alg: Alg): Promise<string>;
  /** Stops publishing every key but `kid`s. */
  keepOnly(...kids: string[]): void;
  /** While true the discovery document and JWKS answer 503. */
  setDown(down: boolean): void;
  /** A token signed with key `kid` (default: the first), with these claims over the defaults. */
  token(claims?: JWTPayload & Record<string, unknown>, options?: { kid?: string }): Promise<string>;
  /** The public JWK of `kid`, for forging tests. */
  publicJwk(kid: string): JWK;
}

/** Starts a provider on a free loopback port with one RSA key and one EC key. */
export async function startProvider(options: { audience: string }): Promise<TestProvider> {
  const keys: Key[] = [];
  let published = new Set<string>();
  let down = false;
  let fetches = 0;
  let discoveries = 0;
  let issuer = "";
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, (req): Response => {
    const path = new URL(req.url).pathname;
    if (down) return new Response("down", { status: 503 });
    if (path === "/.well-known/openid-configuration") {
      discoveries++;
      return Response.json({ issuer, jwks_uri: `${issuer}/jwks.json` });
    }
    if (path === "/jwks.json") {
      fetches++;
      return Response.json({
        keys: keys.filter((k) => published.has(k.kid)).map((k) => k.publicJwk),
      });
    }
    return new Response("not found", { status: 404 });
  });
  issuer = `http://127.0.0.1:${server.addr.port}`;

  async function addKey(alg: Alg): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(alg === "EdDSA" ? "Ed25519" : alg, {
      extractable: true,
    });
    const kid = `${alg.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`;
    // jose names Ed25519 keys by their curve; the token's header says EdDSA.
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
    keys.push({ kid, alg, privateKey, publicJwk });
    published.add(kid);
    return kid;
  }
  await addKey("RS256");
  await addKey("ES256");

  return {
    issuer,
    jwksFetches: () => fetches,
    discoveryFetches: () => discoveries,
    addKey,
    keepOnly(...kids) {
      published = new Set(kids);
    },
    setDown(value) {
      down = value;
    },
    async token(claims = {}, opts = {}) {
      const key = opts.kid === undefined ? keys[0]! : keys.find((k) => k.kid === opts.kid)!;
      const now = Math.floor(Date.now() / 1000);
      return await new SignJWT({
        iss: issuer,
        aud: options.audience,
        sub: "user_2abc",
        email: "ext@example.com",
        email_verified: true,
        iat: now,
        exp: now + 300,
        ...claims,
      }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" }).sign(key.privateKey);
    },
    publicJwk(kid) {
      return keys.find((k) => k.kid === kid)!.publicJwk;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
