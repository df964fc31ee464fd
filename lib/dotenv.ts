/**
 * Reads a `.env` file into a record, so every task works with or without one.
 * Real environment variables win over the file, as with python-dotenv.
 *
 * @module
 */

/**
 * Parses `KEY=value` lines: `#` comments, an optional `export ` prefix, and
 * single- or double-quoted values (double quotes understand `\n`).
 *
 * @example
 * ```ts
 * parseDotEnv('PORT=8001\nexport NAME="a b"'); // { PORT: "8001", NAME: "a b" }
 * ```
 */
export function parseDotEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.lastIndexOf(quote) > 0) {
      value = value.slice(1, value.lastIndexOf(quote));
      if (quote === '"') value = value.replace(/\\n/g, "\n").replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    env[match[1]!] = value;
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
    throw error;
  }
}
