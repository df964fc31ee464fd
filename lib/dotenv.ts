/**
 * Reads a `.env` file into a record, so every task works with or without one.
 * Real environment variables win over the file, as with python-dotenv and
 * Deno's own `--env-file`.
 *
 * Not `--env-file` itself: it warns on every start when the file is absent,
 * and a flag in `deno.json` cannot follow `TUSK_ENV_FILE`.
 *
 * @module
 */
import { parseEnv } from "node:util";

/**
 * Parses `.env` text with the runtime's built-in parser (the one behind
 * `--env-file`): `#` comments, `export ` prefixes, single, double and back
 * quotes, multi-line quoted values, `\n` in double quotes.
 *
 * @example
 * ```ts
 * parseDotEnv('PORT=8001\nexport NAME="a b"'); // { PORT: "8001", NAME: "a b" }
 * ```
 */
export function parseDotEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** The file's variables (none when it does not exist), overlaid with `env`. */
export async function withDotEnv(
  path: string,
  env: Record<string, string>,
): Promise<Record<string, string>> {
  try {
    return { ...parseDotEnv(await Deno.readTextFile(path)), ...env };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return env;
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new EnvFileError(
        `cannot read the env file ${path} (${error.message.split(",")[0]}): keep it inside ` +
          "the project (the permission sets read only there), or point TUSK_ENV_FILE elsewhere",
      );
    }
    throw error;
  }
}

/** The env file exists but may not be read; the message says what to do. */
export class EnvFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvFileError";
  }
}

/**
 * The process's variables over those of `.env` (or the file `TUSK_ENV_FILE`
 * names): what every entry point, the test runner and the benchmarks read.
 */
export function processEnv(): Promise<Record<string, string>> {
  return withDotEnv(envFilePath(), Deno.env.toObject());
}

/** The env file every task reads: `TUSK_ENV_FILE`, or `.env`. */
export function envFilePath(): string {
  return Deno.env.get("TUSK_ENV_FILE") ?? ".env";
}
