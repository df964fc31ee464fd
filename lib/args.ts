/**
 * What `node:util`'s `parseArgs()` found wrong, in words: its own messages
 * quote half a shell line ("To specify a positional argument starting with
 * a '-', place it at the end of the command after '--', as in '-- "--json"").
 *
 * @module
 */

/**
 * One short sentence for a `parseArgs()` error (`unknown option --json`,
 * `--limit needs a value`); other errors keep their message.
 *
 * @example
 * ```ts
 * try { parseArgs({ args, options, strict: true }); } catch (e) { console.error(argumentProblem(e)); }
 * ```
 */
export function argumentProblem(error: unknown): string {
  const { code, message = String(error) } = error as { code?: string; message?: string };
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? "";
  const option = quoted.split(" ")[0]!;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(message)
        ? `${option} needs a value`
        : `${option} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${JSON.stringify(quoted)}`;
    default:
      return message;
  }
}
