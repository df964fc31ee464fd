/**
 * `tusk flags ...`: list, create, toggle, set, delete. Running processes see
 * each change within a second (the table's trigger notifies them).
 *
 * @module
 */
import { isUniqueViolation } from "../db/client.ts";
import { createFlag, deleteFlag, listFlags, toggleFlag, updateFlag } from "../db/feature_flags.ts";
import { Codename } from "../services/flags.ts";
import { withDatabase } from "./_db.ts";
import { flagRuleCommand, RULE_USAGE } from "./flag_rules.ts";
import { CliError, parse, printTable, subcommandFallback, UsageError } from "./_io.ts";

const USAGE = `Usage: tusk flags <command>

Commands:
  list                              every flag and whether it is on
  create CODENAME [--label LABEL] [--description TEXT] [--active]
                                    create a flag (off unless --active)
  toggle CODENAME                   turn a flag on if off, off if on
  set CODENAME on|off               turn a flag on or off
  delete CODENAME                   delete a flag (code reading it then sees it off)
${RULE_USAGE}`;

function codename(raw: string | undefined): string {
  const parsed = Codename.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(
      `${JSON.stringify(raw ?? "")} is not a valid flag codename: ${
        parsed.error.issues[0]!.message
      }`,
    );
  }
  return parsed.data;
}

function state(on: boolean): string {
  return on ? "on" : "off";
}

/** Runs `tusk flags ARGS`; returns the exit code. */
export async function flagsCommand(args: string[], env: Record<string, string>): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "list": {
      if (!parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 })) return 0;
      return await withDatabase(env, async ({ sql }) => {
        const flags = await listFlags(sql);
        printTable(
          ["CODENAME", "STATE", "LABEL"],
          flags.map((f) => [f.codename, state(f.is_active), f.label ?? ""]),
        );
        return 0;
      });
    }
    case "create": {
      const p = parse(rest, {
        usage: USAGE,
        sub,
        options: {
          label: { type: "string" },
          description: { type: "string" },
          active: { type: "boolean" },
        },
        min: 1,
        max: 1,
      });
      if (!p) return 0;
      const name = codename(p.positionals[0]);
      return await withDatabase(env, async ({ sql }) => {
        try {
          const flag = await createFlag(sql, {
            codename: name,
            is_active: p.values.active ?? false,
            label: p.values.label ?? null,
            description: p.values.description ?? null,
          });
          console.log(`created ${flag.codename} (${state(flag.is_active)})`);
          return 0;
        } catch (error) {
          if (isUniqueViolation(error)) throw new CliError(`a flag named ${name} already exists`);
          throw error;
        }
      });
    }
    case "toggle":
    case "set":
    case "delete": {
      const p = parse(rest, {
        usage: USAGE,
        sub,
        options: {},
        ...(sub === "set" ? { min: 2, max: 2 } : { min: 1, max: 1 }),
      });
      if (!p) return 0;
      const name = codename(p.positionals[0]);
      const wanted = p.positionals[1];
      if (sub === "set" && wanted !== "on" && wanted !== "off") {
        throw new UsageError(`set takes on or off, not ${JSON.stringify(wanted)}\n\n${USAGE}`);
      }
      return await withDatabase(env, async ({ sql }) => {
        if (sub === "delete") {
          if (!(await deleteFlag(sql, name))) throw new CliError(`no flag is named ${name}`);
          console.log(`deleted ${name}`);
          return 0;
        }
        const flag = sub === "toggle"
          ? await toggleFlag(sql, name)
          : await updateFlag(sql, name, { is_active: wanted === "on" });
        if (flag === undefined) throw new CliError(`no flag is named ${name}`);
        console.log(`${flag.codename} is ${state(flag.is_active)}`);
        return 0;
      });
    }
    default:
      return (sub === undefined ? undefined : await flagRuleCommand(sub, rest, env, USAGE)) ??
        subcommandFallback("flags", sub, USAGE);
  }
}
