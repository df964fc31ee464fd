/**
 * Rules written as text, as the CLI's options and the console's form take
 * them: one condition per line (`email ends_with @example.com`,
 * `plan in gold,pro`, `beta exists`), a percentage, and a variant or a split
 * (`blue:50,green:50`). Checked by the same schema as the API's rules.
 *
 * @module
 */
import { Rule } from "./flag_rules.ts";

/** A rule's parts as text; empty strings count as absent. */
export interface RuleText {
  when?: string[];
  percentage?: string;
  variant?: string;
  split?: string;
  description?: string;
}

/** A value: JSON when it parses (`42`, `true`, `"x"`), the text itself otherwise. */
export function textValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function condition(text: string): Record<string, unknown> | string {
  const [attribute, operator, ...rest] = text.trim().split(/\s+/);
  if (attribute === undefined || operator === undefined) {
    return `A condition is "ATTRIBUTE OPERATOR VALUE", not ${JSON.stringify(text.trim())}`;
  }
  if (operator === "exists") return { attribute, operator };
  const raw = rest.join(" ");
  const value = operator === "in" || operator === "not_in"
    ? raw.split(",").map((v) => textValue(v.trim()))
    : textValue(raw);
  return { attribute, operator, value };
}

/** The rule the text says, or the first problem with it. */
export function ruleFromText(text: RuleText): { rule: Rule } | { problem: string } {
  const present = (v: string | undefined) => v !== undefined && v.trim() !== "";
  const conditions = [];
  for (const line of (text.when ?? []).filter((l) => l.trim() !== "")) {
    const parsed = condition(line);
    if (typeof parsed === "string") return { problem: parsed };
    conditions.push(parsed);
  }
  const input = {
    ...(present(text.description) ? { description: text.description!.trim() } : {}),
    ...(conditions.length === 0 ? {} : { conditions }),
    ...(present(text.percentage) ? { percentage: Number(text.percentage) } : {}),
    ...(present(text.variant) ? { variant: text.variant!.trim() } : {}),
    ...(present(text.split)
      ? {
        split: text.split!.split(",").map((part) => {
          const [variant = "", weight = ""] = part.split(":");
          return { variant: variant.trim(), weight: Number(weight) };
        }),
      }
      : {}),
  };
  return ruleFromJson(input);
}

/** A rule from parsed JSON, or the first problem with it (and where). */
export function ruleFromJson(input: unknown): { rule: Rule } | { problem: string } {
  const parsed = Rule.safeParse(input);
  if (parsed.success) return { rule: parsed.data };
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length > 0 ? ` (${issue.path.join(".")})` : "";
  return { problem: `The rule is not valid: ${issue.message}${where}` };
}
