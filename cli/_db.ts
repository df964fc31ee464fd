/**
 * Opening the database for one command (embedded or `DATABASE_URL`) and
 * closing it afterwards, whatever happens.
 *
 * @module
 */
import { type Config, loadConfig } from "../config.ts";
import { type Database, openDatabase } from "../db/open.ts";
import { createLogger, type Logger } from "../lib/logging.ts";

/** Plain progress lines for humans at a terminal, on stderr. */
export function cliLogger(config?: Config): Logger {
  return createLogger({
    level: config?.logLevel,
    write: (line) => console.error(JSON.parse(line).msg),
  });
}

/** Runs `work` with an open database; a running `deno task dev` keeps its embedded server. */
export async function withDatabase<T>(
  env: Record<string, string>,
  work: (db: Database, config: Config) => Promise<T>,
): Promise<T> {
  const config = loadConfig(env);
  const db = await openDatabase(config, { role: "cli", log: cliLogger(config) });
  try {
    return await work(db, config);
  } finally {
    await db.close();
  }
}
