/**
 * What a feature flag's rules may say, and how they are evaluated: in order,
 * first match wins, else the default; `is_active = false` overrides all.
 * `tusk.flag_evaluate()` (migration 0015) is the same evaluation in SQL, and
 * a test holds the two to the same answers.
 *
 * A flag without `variants` is boolean: its variants are `on` (true) and
 * `off` (false), and with no `default_variant` it serves `on` when it has no
 * rules (as before rules existed) and `off` when it has some (the rules say
 * who gets it). A flag with `variants` names its own and its default.
 * Switched off (`is_active = false`), a boolean flag is off and a flag with
 * variants serves its default variant.
 *
 * @module
 */
import { z } from "zod";
import { sha256Head } from "../lib/sha256.ts";

/** The operators a condition may use. */
export const OPERATORS = [
  "eq",
  "neq",
  "in",
  "not_in",
  "starts_with",
  "ends_with",
  "contains",
  "lt",
  "lte",
  "gt",
  "gte",
  "exists",
] as const;

/** Why a flag has its value, in OpenFeature's words. */
export type Reason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DEFAULT" | "DISABLED" | "ERROR";

/** What one evaluation gives: the same object `tusk.flag_evaluate()` returns. */
export interface Evaluation {
  value?: unknown;
  variant?: string;
  reason: Reason;
  /** The index of the rule that decided (matched, or needed a subject key it did not get). */
  rule?: number;
  error?: "FLAG_NOT_FOUND" | "TARGETING_KEY_MISSING";
}

/**
 * Who a flag is evaluated for: `targetingKey` (a user id, a device id; what
 * percentages are sticky to) and any attributes rules may test.
 */
export type Subject = { targetingKey?: string } & Record<string, unknown>;

/** The parts of a flag that evaluation reads. */
export interface FlagDefinition {
  codename: string;
  is_active: boolean;
  rules: Rule[];
  variants: Record<string, unknown> | null;
  default_variant: string | null;
}

const BOOLEAN_VARIANTS: Record<string, unknown> = { on: true, off: false };
// Buckets are hundredths of a percent, so rollouts can be as fine as 0.01 %.
const BUCKETS = 10_000;
const MAX_RULES = 100;
const MAX_CONDITIONS = 20;
const MAX_VARIANTS = 50;
const MAX_LIST = 1000;
// A variant's value is served on every evaluation; a page of JSON is plenty.
const MAX_VALUE_BYTES = 8192;

const VariantName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, {
  message: "A variant name is a letter or digit, then letters, digits, _, . or - (at most 100)",
});
const Attribute = z.string().min(1).max(100);
const Primitive = z.union([z.string().max(1000), z.number(), z.boolean()]);

const Condition = z.discriminatedUnion("operator", [
  z.strictObject({ attribute: Attribute, operator: z.enum(["eq", "neq"]), value: Primitive }),
  z.strictObject({
    attribute: Attribute,
    operator: z.enum(["in", "not_in"]),
    value: z.array(Primitive).min(1).max(MAX_LIST),
  }),
  z.strictObject({
    attribute: Attribute,
    operator: z.enum(["starts_with", "ends_with", "contains"]),
    value: z.string().max(1000),
  }),
  z.strictObject({
    attribute: Attribute,
    operator: z.enum(["lt", "lte", "gt", "gte"]),
    value: z.number(),
  }),
  z.strictObject({ attribute: Attribute, operator: z.literal("exists") }),
], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? `Unknown operator; use one of ${OPERATORS.join(", ")}`
      : undefined,
});
/** One test of a subject's attribute. */
export type Condition = z.infer<typeof Condition>;

const Percentage = z.number().min(0, "A percentage is from 0 to 100")
  .max(100, "A percentage is from 0 to 100")
  .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6, {
    message: "A percentage has at most two decimals",
  });

/** A rule: conditions (all must hold), an optional percentage, and what it serves. */
export const Rule = z.strictObject({
  description: z.string().max(200).optional(),
  conditions: z.array(Condition).max(MAX_CONDITIONS).optional(),
  percentage: Percentage.optional(),
  variant: VariantName.optional(),
  split: z.array(z.strictObject({
    variant: VariantName,
    weight: z.number().int("A weight is a whole percentage").min(0).max(100),
  })).min(1).max(MAX_VARIANTS).optional(),
}).superRefine((rule, ctx) => {
  if ((rule.variant === undefined) === (rule.split === undefined)) {
    ctx.addIssue({ code: "custom", message: "A rule serves either a variant or a split" });
  }
  if (rule.split && rule.split.reduce((sum, s) => sum + s.weight, 0) !== 100) {
    ctx.addIssue({ code: "custom", path: ["split"], message: "Split weights must add up to 100" });
  }
}).transform((rule) =>
  // Emails compare exactly; userSubject() lowercases the subject's, so rules hold lowercase.
  rule.conditions === undefined ? rule : {
    ...rule,
    conditions: rule.conditions.map((c) => c.attribute === "email" ? lowerValue(c) : c),
  }
);
/** One rule, as stored. */
export type Rule = z.infer<typeof Rule>;

function lowerValue(condition: Condition): Condition {
  if (!("value" in condition)) return condition;
  const lower = (v: unknown) => typeof v === "string" ? v.toLowerCase() : v;
  const value = Array.isArray(condition.value)
    ? condition.value.map(lower)
    : lower(condition.value);
  return { ...condition, value } as Condition;
}

/** A flag's rules. */
export const Rules = z.array(Rule).max(MAX_RULES);

/** A flag's own variants: name to value (any JSON). */
// z.unknown(), not z.json(): the OpenAPI generator recurses forever on z.json(); values arrive
// parsed from JSON, and the size check below serializes each one.
export const Variants = z.record(
  VariantName,
  z.unknown().refine((v) => v !== undefined, { message: "A variant needs a value" }),
).refine(
  (v) => Object.keys(v).length >= 1 && Object.keys(v).length <= MAX_VARIANTS,
  { message: `A flag has from 1 to ${MAX_VARIANTS} variants` },
).refine(
  (v) => Object.values(v).every((x) => (JSON.stringify(x)?.length ?? 0) <= MAX_VALUE_BYTES),
  { message: `A variant's value is at most ${MAX_VALUE_BYTES} bytes of JSON` },
);

/** The first thing wrong with a flag's rules and variants taken together; undefined if none. */
export function definitionProblem(
  flag: Pick<FlagDefinition, "rules" | "variants" | "default_variant">,
): string | undefined {
  const names = Object.keys(flag.variants ?? BOOLEAN_VARIANTS);
  const known = (name: string) => names.includes(name);
  const list = names.join(", ");
  if (flag.variants !== null && flag.default_variant === null) {
    return "A flag with variants needs a default_variant";
  }
  if (flag.default_variant !== null && !known(flag.default_variant)) {
    return `default_variant ${JSON.stringify(flag.default_variant)} is not a variant (${list})`;
  }
  for (const [i, rule] of flag.rules.entries()) {
    for (const name of [rule.variant, ...(rule.split ?? []).map((s) => s.variant)]) {
      if (name !== undefined && !known(name)) {
        return `Rule ${i + 1} serves ${JSON.stringify(name)}, which is not a variant (${list})`;
      }
    }
  }
  return undefined;
}

/**
 * A subject's bucket in [0, 10000) for a flag: the first four bytes of
 * SHA-256("salt/subject"), as `tusk.flag_bucket()` computes it.
 */
export function bucketOf(salt: string, subject: string): number {
  return sha256Head(`${salt}/${subject}`) % BUCKETS;
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function conditionHolds(condition: Condition, subject: Subject): boolean {
  const a = subject[condition.attribute];
  if (!present(a)) return false;
  switch (condition.operator) {
    case "exists":
      return true;
    case "eq":
      return a === condition.value;
    case "neq":
      return a !== condition.value;
    case "in":
      return condition.value.includes(a as string);
    case "not_in":
      return !condition.value.includes(a as string);
    case "starts_with":
      return typeof a === "string" && a.startsWith(condition.value);
    case "ends_with":
      return typeof a === "string" && a.endsWith(condition.value);
    case "contains":
      return typeof a === "string" && a.includes(condition.value);
    case "lt":
      return typeof a === "number" && a < condition.value;
    case "lte":
      return typeof a === "number" && a <= condition.value;
    case "gt":
      return typeof a === "number" && a > condition.value;
    case "gte":
      return typeof a === "number" && a >= condition.value;
  }
}

/** The subject's key for percentages: `targetingKey` when it is a non-empty string. */
function keyOf(subject: Subject): string | undefined {
  const key = subject.targetingKey;
  return typeof key === "string" && key !== "" ? key : undefined;
}

/**
 * Evaluates a flag for a subject.
 *
 * @example
 * ```ts
 * evaluateFlag(flag, { targetingKey: user.id, email: "a@example.com" });
 * // { value: true, variant: "on", reason: "TARGETING_MATCH", rule: 0 }
 * ```
 */
export function evaluateFlag(flag: FlagDefinition, subject: Subject = {}): Evaluation {
  const variants = flag.variants ?? BOOLEAN_VARIANTS;
  if (!flag.is_active) {
    // Switched off: a boolean flag is off whatever its default; a flag with variants serves
    // its default variant, so every caller still gets a value of the flag's type.
    const variant = flag.variants === null ? "off" : flag.default_variant!;
    return { value: variants[variant] ?? null, variant, reason: "DISABLED" };
  }
  const key = keyOf(subject);
  for (const [rule, r] of flag.rules.entries()) {
    const outcome = ruleOutcome(r, flag.codename, subject, key);
    if (outcome === "needs a targeting key") {
      return { reason: "ERROR", error: "TARGETING_KEY_MISSING", rule };
    }
    if (outcome !== "matched") continue;
    const variant = r.split === undefined ? r.variant! : splitVariant(r.split, flag.codename, key!);
    return {
      value: variants[variant] ?? null,
      variant,
      reason: r.percentage !== undefined || r.split !== undefined ? "SPLIT" : "TARGETING_MATCH",
      rule,
    };
  }
  const variant = flag.default_variant ?? (flag.rules.length === 0 ? "on" : "off");
  return {
    value: variants[variant] ?? null,
    variant,
    reason: flag.rules.length === 0 ? "STATIC" : "DEFAULT",
  };
}

/** What one rule makes of a subject: the one walk {@link evaluateFlag} and {@link explainFlag} share. */
function ruleOutcome(
  rule: Rule,
  codename: string,
  subject: Subject,
  key: string | undefined,
): ExplainStep["outcome"] {
  if (!(rule.conditions ?? []).every((c) => conditionHolds(c, subject))) return "no match";
  const sticky = rule.percentage !== undefined || rule.split !== undefined;
  if (sticky && key === undefined) return "needs a targeting key";
  if (
    rule.percentage !== undefined && bucketOf(codename, key!) >= Math.round(rule.percentage * 100)
  ) {
    return "outside the percentage";
  }
  return "matched";
}

function splitVariant(split: NonNullable<Rule["split"]>, codename: string, key: string): string {
  // A second salt, so who lands in a split does not depend on who passed the rule's percentage.
  const bucket = bucketOf(`${codename}/split`, key);
  let total = 0;
  let chosen = split[0]!.variant;
  for (const share of split) {
    total += share.weight * 100;
    chosen = share.variant;
    if (bucket < total) break;
  }
  return chosen;
}

/**
 * The subject for a user: its id as the targeting key, and the attributes
 * rules usually test (the email lowercased).
 *
 * @example
 * ```ts
 * isEnabled("FF_NEW_CHECKOUT", userSubject(c.get("user")));
 * ```
 */
export function userSubject(
  user: { id: string; email: string; is_superuser: boolean; is_active?: boolean },
): Subject {
  return {
    targetingKey: user.id,
    user_id: user.id,
    email: user.email.toLowerCase(),
    is_superuser: user.is_superuser,
    ...(user.is_active === undefined ? {} : { is_active: user.is_active }),
  };
}

/** One line of an explanation: a rule, and whether (and why) it decided. */
export interface ExplainStep {
  rule: number;
  description: string;
  outcome: "matched" | "no match" | "outside the percentage" | "needs a targeting key";
}

/** A rule in words: `staff: email ends_with "@example.com" → on`. */
export function describeRule(rule: Rule): string {
  const parts = (rule.conditions ?? []).map((c) =>
    "value" in c
      ? `${c.attribute} ${c.operator} ${JSON.stringify(c.value)}`
      : `${c.attribute} exists`
  );
  if (rule.percentage !== undefined) parts.push(`${rule.percentage} % of subjects`);
  const serves = rule.split === undefined
    ? rule.variant!
    : rule.split.map((s) => `${s.variant} ${s.weight} %`).join(" / ");
  const when = parts.length === 0 ? "everyone" : parts.join(" and ");
  return `${rule.description ? `${rule.description}: ` : ""}${when} → ${serves}`;
}

/**
 * The evaluation with the rules it went through, for "is alice in?" in the
 * console and `tusk flags explain`.
 *
 * @example
 * ```ts
 * const { evaluation, steps } = explainFlag(flag, { targetingKey: "u1", email: "a@x.org" });
 * ```
 */
export function explainFlag(
  flag: FlagDefinition,
  subject: Subject = {},
): { evaluation: Evaluation; steps: ExplainStep[] } {
  const evaluation = evaluateFlag(flag, subject);
  const steps: ExplainStep[] = [];
  if (evaluation.reason === "DISABLED") return { evaluation, steps };
  const key = keyOf(subject);
  for (const [rule, r] of flag.rules.entries()) {
    steps.push({
      rule,
      description: describeRule(r),
      outcome: ruleOutcome(r, flag.codename, subject, key),
    });
    if (rule === evaluation.rule) break;
  }
  return { evaluation, steps };
}
