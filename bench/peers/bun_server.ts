/**
 * The Hono-on-Bun peer for `bench:http`: what a user choosing Bun for speed
 * would write for Tusk's two benchmarked endpoints, with `Bun.sql`. Each
 * request does Tusk's work: verify the HS256 bearer token (jose, key
 * imported once), load its user and check it (active, token version), then
 * load the item (the owner's, or any for a superuser) or insert one.
 * Without Tusk's history context, request log, tracing or headers.
 *
 * Usage: bun bench/peers/bun_server.ts   (DATABASE_URL, SECRET_KEY, PORT)
 */
import { SQL } from "bun";
import { Hono } from "hono";
import { jwtVerify } from "jose";

const sql = new SQL(process.env.DATABASE_URL!, { max: 10 });
const key = new TextEncoder().encode(process.env.SECRET_KEY!);

type User = { id: string; is_active: boolean; is_superuser: boolean; token_version: number };

async function userOf(header: string | undefined): Promise<User | Response> {
  const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
  if (token === undefined) return Response.json({ detail: "Not authenticated" }, { status: 401 });
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, key, { algorithms: ["HS256"] }));
  } catch {
    return Response.json({ detail: "Could not validate credentials" }, { status: 403 });
  }
  const [user] = await sql<User[]>`
    select id, is_active, is_superuser, token_version from users where id = ${claims.sub!}`;
  if (user === undefined || user.token_version !== claims.ver || !user.is_active) {
    return Response.json({ detail: "Could not validate credentials" }, { status: 403 });
  }
  return user;
}

const app = new Hono();
app.get("/api/v1/items/:id", async (c) => {
  const user = await userOf(c.req.header("Authorization"));
  if (user instanceof Response) return user;
  const [item] = await sql`
    select id, title, description, owner_id, created_at from items where id = ${c.req.param("id")}`;
  if (item === undefined) return c.json({ detail: "Item not found" }, 404);
  if (!user.is_superuser && item.owner_id !== user.id) {
    return c.json({ detail: "Not enough permissions" }, 403);
  }
  return c.json(item);
});
app.post("/api/v1/items/", async (c) => {
  const user = await userOf(c.req.header("Authorization"));
  if (user instanceof Response) return user;
  const body = await c.req.json<{ title: string; description?: string }>();
  const [item] = await sql`
    insert into items (title, description, owner_id)
    values (${body.title}, ${body.description ?? null}, ${user.id})
    returning id, title, description, owner_id, created_at`;
  return c.json(item);
});
app.get("/healthz", (c) => c.json({ status: "ok" }));

Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: app.fetch });
