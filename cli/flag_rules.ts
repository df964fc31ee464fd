/**
 * `tusk flags show|rule|rollout|explain|visible`: a flag's targeting from the
 * command line, by the flag API's rules (`services/flags.ts`): a change that
 * does not hold together is refused whole, with what to fix.
 *
 * @module
 */
import { getFlag } from "../db/feature_flags.ts";
import { getUserByEmail } from "../db/users.ts";
import { HttpError } from "../lib/http_error.ts";
import {
  describeRule,
  explainFlag,
  OPERATORS,
  type Rule,
  type Subject,
  userSubject,
} from "../services/flag_rules.ts";
import { addRule, changeFlag, definitionOf, removeRule, setRollout } from "../services/flags.ts";
import { ruleFromJson, ruleFromText, textValue } from "../services/flag_rule_text.ts";
import { withDatabase } from "./_db.ts";
import { CliError, parse, UsageError } from "./_io.ts";

/** The usage lines of these commands, part of `tusk flags --help`. */
export const RULE_USAGE = `  show CODENAME                     a flag's rules, variants and default
  rule add CODENAME [--when "ATTRIBUTE OPERATOR VALUE"]... [--percentage P]
           [--variant NAME | --split NAME:WEIGHT,...] [--position N] [--description TEXT]
           [--json RULE]                add a rule (at the end, or at position N)
  rule remove CODENAME N            remove rule N (as numbered by show)
  rollout CODENAME PERCENT          roll a boolean flag out to PERCENT of subjects (sticky)
  explain CODENAME [--user EMAIL] [--key KEY] [--attr NAME=VALUE]...
                                    what the flag gives a subject, and which rule decided
  visible CODENAME on|off           whether OpenFeature clients without a key may read it

Operators: ${OPERATORS.join(", ")}. Values are JSON when they parse (42, true, "x"),
text otherwise; in and not_in take a comma-separated list.`;

/** A rule from the options, checked as the API checks it. */
function ruleFrom(values: Record<string, unknown>): Rule {
  let result;
  if (values.json !== undefined) {
    let input: unknown;
    try {
      input = JSON.parse(values.json as string);
    } catch {
      throw new UsageError("--json is not valid JSON");
    }
    result = ruleFromJson(input);
  } else {
    result = ruleFromText({ ...values, when: values.when as string[] | undefined });
  }
  if ("problem" in result) throw new CliError(result.problem);
  return result.rule;
}

function printFlag(flag: ReturnType<typeof definitionOf>): void {
  console.log(
    `${flag.codename}: ${flag.is_active ? "on" : "off"}` +
      `${flag.client_visible ? ", visible to OpenFeature clients" : ""}`,
  );
  if (flag.variants !== null) {
    for (const [name, value] of Object.entries(flag.variants)) {
      console.log(`  variant ${name} = ${JSON.stringify(value)}`);
    }
  }
  flag.rules.forEach((rule, i) => console.log(`  ${i + 1}. ${describeRule(rule)}`));
  const fallback = flag.default_variant ?? (flag.rules.length === 0 ? "on" : "off");
  console.log(`  otherwise: ${fallback}`);
}

/** Runs one of these commands, or returns undefined when `sub` is none of them. */
export async function flagRuleCommand(
  sub: string,
  rest: string[],
  env: Record<string, string>,
  usage: string,
): Promise<number | undefined> {
  // The flag API's refusals reach the user as they are (runCli prints an HttpError's message);
  // only "not found" is said the CLI's way, naming the flag.
  const answer = async (work: () => Promise<number>) => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 404) throw error;
      throw new CliError(`no flag is named ${(sub === "rule" ? rest[1] : rest[0]) ?? ""}`);
    }
  };
  if (sub === "rule") {
    const [action, ...args] = rest;
    if (action === "add") {
      const p = parse(args, {
        usage,
        sub: "rule add",
        options: {
          when: { type: "string", multiple: true },
          percentage: { type: "string" },
          variant: { type: "string" },
          split: { type: "string" },
          position: { type: "string" },
          description: { type: "string" },
          json: { type: "string" },
        },
        min: 1,
        max: 1,
      });
      if (!p) return 0;
      const rule = ruleFrom(p.values);
      const position = p.values.position === undefined ? undefined : Number(p.values.position) - 1;
      return await withDatabase(env, (db) =>
        answer(async () => {
          const flag = await addRule(db.sql, p.positionals[0]!, rule, position);
          console.log(`${flag.codename} now has ${flag.rules.length} rule(s)`);
          return 0;
        }));
    }
    if (action === "remove") {
      const p = parse(args, { usage, sub: "rule remove", options: {}, min: 2, max: 2 });
      if (!p) return 0;
      const n = Number(p.positionals[1]);
      if (!Number.isInteger(n)) throw new UsageError(`N is a rule number, not ${p.positionals[1]}`);
      return await withDatabase(env, (db) =>
        answer(async () => {
          const flag = await removeRule(db.sql, p.positionals[0]!, n - 1);
          console.log(`removed rule ${n}; ${flag.codename} has ${flag.rules.length} left`);
          return 0;
        }));
    }
    throw new UsageError(`flags rule takes add or remove\n\n${usage}`);
  }
  if (sub === "rollout") {
    const p = parse(rest, { usage, sub, options: {}, min: 2, max: 2 });
    if (!p) return 0;
    const percentage = Number(p.positionals[1]!.replace(/%$/, ""));
    if (!Number.isFinite(percentage)) {
      throw new UsageError(`PERCENT is a number from 0 to 100, not ${p.positionals[1]}`);
    }
    return await withDatabase(env, (db) =>
      answer(async () => {
        const flag = await setRollout(db.sql, p.positionals[0]!, percentage);
        console.log(`${flag.codename} rolls out to ${percentage} % of subjects`);
        return 0;
      }));
  }
  if (sub === "visible") {
    const p = parse(rest, { usage, sub, options: {}, min: 2, max: 2 });
    if (!p) return 0;
    const wanted = p.positionals[1];
    if (wanted !== "on" && wanted !== "off") {
      throw new UsageError(`visible takes on or off, not ${JSON.stringify(wanted)}`);
    }
    return await withDatabase(env, (db) =>
      answer(async () => {
        const flag = await changeFlag(db.sql, p.positionals[0]!, {
          client_visible: wanted === "on",
        });
        console.log(`${flag.codename} is ${flag.client_visible ? "" : "not "}visible to clients`);
        return 0;
      }));
  }
  if (sub === "show") {
    const p = parse(rest, { usage, sub, options: {}, min: 1, max: 1 });
    if (!p) return 0;
    return await withDatabase(env, async (db) => {
      const flag = await getFlag(db.sql, p.positionals[0]!);
      if (flag === undefined) throw new CliError(`no flag is named ${p.positionals[0]}`);
      printFlag(definitionOf(flag));
      return 0;
    });
  }
  if (sub === "explain") {
    const p = parse(rest, {
      usage,
      sub,
      options: {
        user: { type: "string" },
        key: { type: "string" },
        attr: { type: "string", multiple: true },
      },
      min: 1,
      max: 1,
    });
    if (!p) return 0;
    const attributes: Subject = {};
    for (const pair of (p.values.attr as unknown as string[] | undefined) ?? []) {
      const eq = pair.indexOf("=");
      if (eq < 1) throw new UsageError(`--attr takes NAME=VALUE, not ${JSON.stringify(pair)}`);
      attributes[pair.slice(0, eq)] = textValue(pair.slice(eq + 1));
    }
    return await withDatabase(env, async (db) => {
      const flag = await getFlag(db.sql, p.positionals[0]!);
      if (flag === undefined) throw new CliError(`no flag is named ${p.positionals[0]}`);
      let subject: Subject = { ...attributes };
      if (p.values.user !== undefined) {
        const user = await getUserByEmail(db.sql, p.values.user);
        if (user === undefined) throw new CliError(`no user has the email ${p.values.user}`);
        subject = { ...subject, ...userSubject(user) };
      }
      if (p.values.key !== undefined) subject.targetingKey = p.values.key;
      const { evaluation, steps } = explainFlag(definitionOf(flag), subject);
      for (const step of steps) {
        console.log(`  rule ${step.rule + 1}: ${step.description}: ${step.outcome}`);
      }
      const value = "value" in evaluation ? JSON.stringify(evaluation.value) : "(none)";
      const why = evaluation.error === undefined ? evaluation.reason : evaluation.error;
      console.log(`${flag.codename} → ${evaluation.variant ?? "-"} = ${value} (${why})`);
      return 0;
    });
  }
  return undefined;
}
