/**
 * Command-line plumbing: argument parsing with `--help`, usage errors, and
 * reading a password without echoing it.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A mistake in how a command was called; printed with the command's usage, exit 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A command-line failure the user must fix (a missing user or flag, a refused change): exit 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** `tusk GROUP` with no, `--help` or an unknown subcommand: usage (exit 0 for --help, else 1). */
export function subcommandFallback(group: string, sub: string | undefined, usage: string): number {
  if (sub === "--help" || sub === "-h" || sub === undefined) {
    console.log(usage);
    return sub === undefined ? 1 : 0;
  }
  throw new UsageError(`unknown ${group} command ${JSON.stringify(sub)}\n\n${usage}`);
}

/** A command's arguments, or `undefined` after printing its help for `--help`. */
export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  usage: string,
  options: O,
  positionals: { min: number; max: number },
) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${usage}`);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    console.log(usage);
    return undefined;
  }
  const count = parsed.positionals.length;
  if (count < positionals.min || count > positionals.max) {
    throw new UsageError(
      `${count < positionals.min ? "missing" : "unexpected"} argument\n\n${usage}`,
    );
  }
  return parsed as {
    values: { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string };
    positionals: string[];
  };
}

/**
 * A password from standard input: typed at a prompt without echo (twice, to
 * confirm, when `confirm`), or the first line of piped input.
 */
export async function readPassword(confirm: boolean): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    const text = await new Response(Deno.stdin.readable).text();
    const line = text.split(/\r?\n/)[0] ?? "";
    if (line === "") {
      throw new UsageError(
        "no password given: pass --password, pipe it on standard input, or type it",
      );
    }
    return line;
  }
  const first = await promptHidden("Password: ");
  if (confirm && (await promptHidden("Repeat password: ")) !== first) {
    throw new UsageError("the two passwords differ; nothing was changed");
  }
  return first;
}

async function promptHidden(label: string): Promise<string> {
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(label));
  Deno.stdin.setRaw(true);
  const chars: string[] = [];
  const buffer = new Uint8Array(64);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const ch of new TextDecoder().decode(buffer.subarray(0, n))) {
        if (ch === "\r" || ch === "\n") return chars.join("");
        if (ch === "\u0003") throw new UsageError("cancelled; nothing was changed");
        if (ch === "\u007f" || ch === "\b") chars.pop();
        else chars.push(ch);
      }
    }
    return chars.join("");
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}

/** Prints rows as aligned columns. */
export function printTable(headers: string[], rows: string[][]) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log(line(headers));
  for (const row of rows) console.log(line(row));
}
