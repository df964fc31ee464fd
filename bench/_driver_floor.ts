/**
 * The driver's floor for `bench:http`: the statements of `GET /items/{id}`
 * (the token's user, then the item) run straight through Tusk's pool, as the
 * API configures it, by `clients` concurrent loops, with no HTTP. Prints
 * pairs per second.
 *
 * Usage: deno run -A bench/_driver_floor.ts DATABASE_URL USER_ID ITEM_ID SECONDS CLIENTS
 *
 * @module
 */
import { createSql } from "../db/client.ts";
import { getItem } from "../db/items.ts";
import { getUserById } from "../db/users.ts";

if (import.meta.main) {
  const [url, userId, itemId, seconds, clients] = Deno.args as [
    string,
    string,
    string,
    string,
    string,
  ];
  // As db/database.ts opens it for the api role, with its defaults.
  const sql = createSql(url, { role: "api", poolSize: 10, acquireTimeoutMs: 2000 });
  try {
    const loop = async (until: number) => {
      let n = 0;
      while (performance.now() < until) {
        await getUserById(sql, userId);
        await getItem(sql, itemId);
        n++;
      }
      return n;
    };
    const run = async (ms: number) => {
      const started = performance.now();
      const counts = await Promise.all(
        Array.from({ length: Number(clients) }, () => loop(started + ms)),
      );
      return counts.reduce((a, b) => a + b, 0) / ((performance.now() - started) / 1000);
    };
    await run(2000); // warm-up, as the HTTP runs get
    console.log(Math.round(await run(Number(seconds) * 1000)));
  } finally {
    await sql.end();
  }
}
