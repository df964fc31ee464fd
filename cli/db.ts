/**
 * `tusk db url | psql`: reach the database Tusk uses (the embedded one
 * included) with any Postgres client.
 *
 * @module
 */
import { withDatabase } from "./_db.ts";
import { CliError, UsageError } from "./_io.ts";

const USAGE = `Usage: tusk db <command>

Commands:
  url                 print the database URL (DATABASE_URL, POSTGRES_*, or the embedded one)
  psql [PSQL ARGS]    open psql on that database (needs psql on PATH:
                      apt-get install postgresql-client, brew install libpq)

While deno task dev runs, both use its embedded Postgres; otherwise db psql
starts it for the session and stops it afterwards.`;

/** Runs `tusk db ARGS`; returns the exit code (psql's own for `psql`). */
export async function dbCommand(args: string[], env: Record<string, string>): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return sub === undefined ? 1 : 0;
  }
  if (sub === "url") {
    if (rest.length > 0) {
      throw new UsageError(`db url takes no argument ${JSON.stringify(rest[0])}`);
    }
    return await withDatabase(env, (db) => {
      console.log(db.url);
      if (db.embedded?.owned) {
        console.error(
          "note: the embedded Postgres was not running and stops again now; " +
            "start deno task dev to keep it up",
        );
      }
      return Promise.resolve(0);
    });
  }
  if (sub === "psql") {
    return await withDatabase(env, async (db) => await psql(db.url, rest));
  }
  throw new UsageError(`unknown db command ${JSON.stringify(sub)}; use url or psql\n\n${USAGE}`);
}

async function psql(url: string, args: string[]): Promise<number> {
  try {
    const child = new Deno.Command("psql", {
      args: [url, ...args],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        "psql is not installed. Install the PostgreSQL client (apt-get install " +
          "postgresql-client, or brew install libpq), or use any client with: tusk db url",
      );
    }
    throw error;
  }
}
