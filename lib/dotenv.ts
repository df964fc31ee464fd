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

// python-dotenv's forms: ${NAME} and ${NAME:-default}.
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `file`'s values with `${NAME}` and `${NAME:-default}` expanded, as
 * python-dotenv does by default (the FastAPI template's `.env` relies on it):
 * a name resolves to the environment's value, else to a value defined earlier
 * in the file, else to the default (or nothing). Single-quoted values are
 * taken literally. `text` is the file, to tell which values were quoted so.
 *
 * @example
 * ```ts
 * interpolate(parseDotEnv("A=x\nB=${A}/y"), "A=x\nB=${A}/y", {}); // { A: "x", B: "x/y" }
 * ```
 */
export function interpolate(
  file: Record<string, string>,
  text: string,
  env: Record<string, string>,
): Record<string, string> {
  const literal = new Set(
    [...text.matchAll(/^[ \t]*(?:export[ \t]+)?([\w.-]+)[ \t]*=[ \t]*'/gm)].map((m) => m[1]!),
  );
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(file)) {
    out[key] = literal.has(key) ? value : value.replace(
      REFERENCE,
      (_, name: string, fallback?: string) => env[name] ?? out[name] ?? fallback ?? "",
    );
  }
  return out;
}

/** The file's variables (none when it does not exist), overlaid with `env`. */
export async function withDotEnv(
  path: string,
  env: Record<string, string>,
): Promise<Record<string, string>> {
  try {
    const text = await Deno.readTextFile(path);
    return { ...interpolate(parseDotEnv(text), text, env), ...env };
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
