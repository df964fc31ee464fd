/**
 * The Fastify-on-Node peer for `bench:http`: the same work as
 * `bun_server.ts` (verify the HS256 bearer token with jose, load and check
 * its user, then load or insert the item), with `pg`'s pool of 10.
 *
 * Usage: node bench/peers/fastify_server.mjs   (DATABASE_URL, SECRET_KEY, PORT)
 */
import Fastify from "fastify";
import { jwtVerify } from "jose";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const key = new TextEncoder().encode(process.env.SECRET_KEY);
const app = Fastify({ logger: false });

async function userOf(request, reply) {
  const header = request.headers.authorization;
  const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
  if (token === undefined) return reply.code(401).send({ detail: "Not authenticated" });
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, key, { algorithms: ["HS256"] }));
  } catch {
    return reply.code(403).send({ detail: "Could not validate credentials" });
  }
  const { rows: [user] } = await pool.query({
    name: "user",
    text: "select id, is_active, is_superuser, token_version from users where id = $1",
    values: [claims.sub],
  });
  if (user === undefined || user.token_version !== claims.ver || !user.is_active) {
    return reply.code(403).send({ detail: "Could not validate credentials" });
  }
  request.user = user;
}

app.get("/api/v1/items/:id", { preHandler: userOf }, async (request, reply) => {
  const { rows: [item] } = await pool.query({
    name: "item",
    text: "select id, title, description, owner_id, created_at from items where id = $1",
    values: [request.params.id],
  });
  if (item === undefined) return reply.code(404).send({ detail: "Item not found" });
  if (!request.user.is_superuser && item.owner_id !== request.user.id) {
    return reply.code(403).send({ detail: "Not enough permissions" });
  }
  return item;
});
app.post("/api/v1/items/", { preHandler: userOf }, async (request) => {
  const { title, description = null } = request.body;
  const { rows: [item] } = await pool.query({
    name: "insert",
    text: "insert into items (title, description, owner_id) values ($1, $2, $3) " +
      "returning id, title, description, owner_id, created_at",
    values: [title, description, request.user.id],
  });
  return item;
});
app.get("/healthz", async () => ({ status: "ok" }));

await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
