/**
 * Deno servers doing the Bun peer's work (`peers/bun_server.ts`) for
 * `GET /api/v1/items/{id}` and `POST /api/v1/items/`: verify the HS256
 * bearer token with jose, load and check its user, then load the item or
 * insert one, with postgres.js (Tusk's vendored driver, a pool of 10) in
 * place of `Bun.sql`. No history context, request log, tracing or Tusk
 * headers. Two of them, so `bench:http` can say where a gap to Bun lies:
 *
 * - `hono`: the Bun peer's own code on Deno (the same Hono app, jose on
 *   every request): the runtime and driver against Bun's, same code;
 * - `bare`: the least a Deno server does: `Deno.serve` with no framework,
 *   each token string verified once (as Tusk remembers them): the floor
 *   Tusk's own stack is read against.
 *
 * Usage: deno run --allow-net --allow-env --allow-read --allow-sys bench/_deno_peer.ts hono|bare
 *        (DATABASE_URL, SECRET_KEY, PORT)
 *
 * @module
 */
import { Hono } from "hono";
import { jwtVerify } from "jose";
import postgres from "postgres";

type User = { id: string; is_active: boolean; is_superuser: boolean; token_version: number };
type Claims = { sub: string; ver: unknown };

const json = (body: unknown, status = 200) => Response.json(body, { status });

if (import.meta.main) {
  const sql = postgres(Deno.env.get("DATABASE_URL")!, { max: 10 });
  const key = new TextEncoder().encode(Deno.env.get("SECRET_KEY")!);
  const bare = Deno.args[0] === "bare";
  const verified = new Map<string, Claims>();

  const claimsOf = async (token: string): Promise<Claims> => {
    const known = bare ? verified.get(token) : undefined;
    if (known !== undefined) return known;
    const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] });
    const claims = { sub: payload.sub!, ver: payload.ver };
    if (bare) verified.set(token, claims);
    return claims;
  };

  const userOf = async (header: string | null | undefined): Promise<User | Response> => {
    const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
    if (token === undefined) return json({ detail: "Not authenticated" }, 401);
    let claims;
    try {
      claims = await claimsOf(token);
    } catch {
      return json({ detail: "Could not validate credentials" }, 403);
    }
    const [user] = await sql<User[]>`
      select id, is_active, is_superuser, token_version from users where id = ${claims.sub}`;
    if (user === undefined || user.token_version !== claims.ver || !user.is_active) {
      return json({ detail: "Could not validate credentials" }, 403);
    }
    return user;
  };

  const getItem = async (authorization: string | null | undefined, id: string) => {
    const user = await userOf(authorization);
    if (user instanceof Response) return user;
    const [item] = await sql`
      select id, title, description, owner_id, created_at from items where id = ${id}`;
    if (item === undefined) return json({ detail: "Item not found" }, 404);
    if (!user.is_superuser && item.owner_id !== user.id) {
      return json({ detail: "Not enough permissions" }, 403);
    }
    return json(item);
  };

  const addItem = async (authorization: string | null | undefined, request: Request) => {
    const user = await userOf(authorization);
    if (user instanceof Response) return user;
    const body = await request.json() as { title: string; description?: string };
    const [item] = await sql`
      insert into items (title, description, owner_id)
      values (${body.title}, ${body.description ?? null}, ${user.id})
      returning id, title, description, owner_id, created_at`;
    return json(item);
  };

  const ITEMS = "/api/v1/items/";
  const bareHandler = (request: Request) => {
    const path = new URL(request.url).pathname;
    const authorization = request.headers.get("authorization");
    if (request.method === "GET" && path.startsWith(ITEMS) && path.length > ITEMS.length) {
      return getItem(authorization, path.slice(ITEMS.length));
    }
    if (request.method === "POST" && path === ITEMS) return addItem(authorization, request);
    if (path === "/healthz") return json({ status: "ok" });
    return json({ detail: "Not Found" }, 404);
  };

  const app = new Hono();
  app.get("/api/v1/items/:id", (c) => getItem(c.req.header("Authorization"), c.req.param("id")));
  app.post("/api/v1/items/", (c) => addItem(c.req.header("Authorization"), c.req.raw));
  app.get("/healthz", (c) => c.json({ status: "ok" }));

  const port = Number(Deno.env.get("PORT"));
  Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, bare ? bareHandler : app.fetch);
}
