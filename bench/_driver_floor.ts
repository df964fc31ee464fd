/**
 * The driver's floor for `bench:http`: the statements of `GET /items/{id}`
 * (the token's user, then the item) run straight through Tusk's pool, opened
 * as the API opens it, by `clients` concurrent loops, with no HTTP. Prints
 * pairs per second.
 *
 * Usage: deno run -A bench/_driver_floor.ts DATABASE_URL USER_ID ITEM_ID SECONDS CLIENTS
 *
 * @module
 */
import { loadConfig } from "../config.ts";
import { openDatabase } from "../db/open.ts";
import { getItem } from "../db/items.ts";
import { getUserById } from "../db/users.ts";
import { createLogger } from "../lib/logging.ts";

if (import.meta.main) {
  const [url, userId, itemId, seconds, clients] = Deno.args as [
    string,
    string,
    string,
    string,
    string,
  ];
  // The pool exactly as the API opens it, with the configuration's defaults.
  const config = loadConfig({ DATABASE_URL: url, SECRET_KEY: "b".repeat(40) });
  const db = await openDatabase(config, { role: "api", log: createLogger({ level: "error" }) });
  const sql = db.sql;
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
    await db.close();
  }
}
