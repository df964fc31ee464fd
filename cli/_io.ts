/**
 * Command-line plumbing: argument parsing with `--help`, usage errors, and
 * reading a password without echoing it.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { argumentProblem } from "../lib/args.ts";

/** A mistake in how a command was called; printed with the command's usage, exit 1. */
export class UsageError extends Error {
  /** The command it is about, e.g. `users create`, when more precise than the group. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
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

/** What {@link parse} needs to know of a command. */
export interface CommandSpec<O> {
  /** The usage text of the command, or of its group (`tusk users <command>`). */
  usage: string;
  /** In a group, the subcommand (`create`): its line of `usage` is what errors show. */
  sub?: string;
  options: O;
  /** How many positional arguments it takes. */
  min: number;
  max: number;
}

/** The command's name (`users create`), its usage line, and its positionals' names. */
function synopsis(spec: { usage: string; sub?: string }) {
  const [first = ""] = spec.usage.split("\n");
  const group = /^Usage: tusk (\S+)/.exec(first)?.[1] ?? "";
  let words: string;
  if (spec.sub === undefined) {
    words = first.replace(/^Usage: tusk \S+/, "").split(/\s{2,}\(/)[0]!.trim();
  } else {
    const own = spec.usage.split("\n").map((l) => l.trim())
      .find((l) => l === spec.sub || l.startsWith(`${spec.sub} `));
    words = (own?.split(/\s{2,}/)[0] ?? spec.sub).slice(spec.sub.length).trim();
  }
  const name = spec.sub === undefined ? group : `${group} ${spec.sub}`;
  // `create EMAIL [--superuser]`, `set CODENAME on|off`: the bare words are the positionals.
  const positionals = words.split(/\s+/).filter((w) => w !== "" && !/^[[-]/.test(w));
  return { name, group, line: `Usage: tusk ${name}${words ? ` ${words}` : ""}`, positionals };
}

/**
 * A command's arguments, or `undefined` after printing its help for
 * `--help`. A mistake is a {@link UsageError} naming the command, what it
 * expected, and its usage line.
 *
 * @example
 * ```ts
 * const p = parse(rest, { usage: USAGE, sub: "activate", options: {}, min: 1, max: 1 });
 * ```
 */
export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  spec: CommandSpec<O>,
) {
  const { name, group, line, positionals } = synopsis(spec);
  const wrong = (problem: string) => {
    const more = spec.sub === undefined ? "" : `\n(every ${group} command: tusk ${group} --help)`;
    return new UsageError(`${problem}\n\n${line}${more}`, name);
  };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...spec.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw wrong(argumentProblem(error));
  }
  if ((parsed.values as Record<string, unknown>).help) {
    console.log(spec.sub === undefined ? spec.usage : line);
    return undefined;
  }
  const count = parsed.positionals.length;
  if (count < spec.min) {
    throw wrong(`missing ${positionals.slice(count, spec.min).join(" ") || "an argument"}`);
  }
  if (count > spec.max) {
    throw wrong(`unexpected argument ${JSON.stringify(parsed.positionals[spec.max])}`);
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
