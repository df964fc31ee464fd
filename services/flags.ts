/**
 * Feature flag rules shared by the flag API, the console and the CLI: what a
 * codename may be, what a flag's rules and variants may say, and the answers
 * for a taken or unknown flag or a definition that does not hold together.
 *
 * @module
 */
import { z } from "zod";
import { isUniqueViolation, type Sql, type Tx } from "../db/client.ts";
import {
  createFlag,
  deleteFlag,
  type FeatureFlag,
  type FlagFields,
  lockFlag,
  updateFlag,
} from "../db/feature_flags.ts";
import { HttpError } from "../lib/http_error.ts";
import {
  definitionProblem,
  type FlagDefinition,
  type Rule,
  Rules,
  Variants,
} from "./flag_rules.ts";

/** A flag's codename: a letter, then letters, digits, `_`, `.` or `-`; at most 100. */
export const Codename = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/, {
  message: "Use a letter, then letters, digits, _, . or - (at most 100 characters)",
});

/** What a create or an update may say about targeting (each field optional). */
export const FlagTargeting = z.object({
  rules: Rules.optional(),
  variants: Variants.nullable().optional(),
  default_variant: z.string().max(100).nullable().optional(),
  client_visible: z.boolean().optional(),
});

const NOT_FOUND = "Feature flag not found";

/** The flag as evaluation reads it (rules as validated when they were written). */
export function definitionOf(flag: FeatureFlag): FeatureFlag & FlagDefinition {
  return { ...flag, rules: flag.rules as Rule[] };
}

function check(flag: Pick<FlagDefinition, "rules" | "variants" | "default_variant">): void {
  const problem = definitionProblem(flag);
  if (problem !== undefined) throw new HttpError(422, problem);
}

/** Creates a flag; a 409 when the codename is taken, a 422 when its rules do not hold. */
export async function addFlag(
  sql: Sql,
  flag: { codename: string } & FlagFields & { rules?: Rule[] },
): Promise<FeatureFlag> {
  check({
    rules: flag.rules ?? [],
    variants: flag.variants ?? null,
    default_variant: flag.default_variant ?? null,
  });
  try {
    return await createFlag(sql, flag);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new HttpError(409, "A feature flag with this codename already exists");
    }
    throw error;
  }
}

/**
 * Changes a flag: the changes are merged into the stored flag, which is
 * checked whole before anything is written. A 404 when there is none.
 */
export async function changeFlag(
  sql: Sql,
  codename: string,
  changes: FlagFields & { rules?: Rule[] },
): Promise<FeatureFlag> {
  return await editFlag(sql, codename, () => changes);
}

/**
 * Reads a flag under a row lock, applies `edit` to it, checks the result and
 * writes it: concurrent edits of one flag's rules queue rather than overwrite.
 */
export async function editFlag(
  sql: Sql,
  codename: string,
  edit: (flag: FlagDefinition) => FlagFields & { rules?: Rule[] },
): Promise<FeatureFlag> {
  return await sql.begin(async (tx: Tx) => {
    const current = await lockFlag(tx, codename);
    if (current === undefined) throw new HttpError(404, NOT_FOUND);
    const definition = definitionOf(current);
    const changes = edit(definition);
    check({
      rules: changes.rules ?? definition.rules,
      variants: changes.variants === undefined ? definition.variants : changes.variants,
      default_variant: changes.default_variant === undefined
        ? definition.default_variant
        : changes.default_variant,
    });
    return (await updateFlag(tx, codename, changes))!;
  }) as FeatureFlag;
}

/** Adds a rule at `position` (0-based; the end by default). */
export async function addRule(
  sql: Sql,
  codename: string,
  rule: Rule,
  position?: number,
): Promise<FeatureFlag> {
  return await editFlag(sql, codename, (flag) => {
    const rules = [...flag.rules];
    const at = position ?? rules.length;
    if (!Number.isInteger(at) || at < 0 || at > rules.length) {
      throw new HttpError(422, `A position is from 1 to ${rules.length + 1}`);
    }
    rules.splice(at, 0, rule);
    return { rules };
  });
}

/** Removes the rule at `index` (0-based). */
export async function removeRule(sql: Sql, codename: string, index: number): Promise<FeatureFlag> {
  return await editFlag(sql, codename, (flag) => {
    if (!Number.isInteger(index) || index < 0 || index >= flag.rules.length) {
      throw new HttpError(
        422,
        flag.rules.length === 0
          ? `${codename} has no rules`
          : `${codename} has rules 1 to ${flag.rules.length}`,
      );
    }
    return { rules: flag.rules.filter((_, i) => i !== index) };
  });
}

/**
 * Rolls a boolean flag out to `percentage` of subjects: sets the percentage
 * of its rollout rule (the last rule with a percentage and no conditions),
 * adding one at the end when it has none. Subjects already in stay in as
 * the percentage grows.
 */
export async function setRollout(
  sql: Sql,
  codename: string,
  percentage: number,
): Promise<FeatureFlag> {
  return await editFlag(sql, codename, (flag) => {
    if (flag.variants !== null) {
      throw new HttpError(
        422,
        `${codename} has its own variants; add a rule with a percentage and a variant instead`,
      );
    }
    const rules = [...flag.rules];
    const index = rules.findLastIndex((r) =>
      r.percentage !== undefined && (r.conditions ?? []).length === 0
    );
    const parsed = Rules.element.safeParse({
      ...(index < 0 ? { description: "rollout", variant: "on" } : rules[index]),
      percentage,
    });
    if (!parsed.success) throw new HttpError(422, parsed.error.issues[0]!.message);
    if (index < 0) rules.push(parsed.data);
    else rules[index] = parsed.data;
    return { rules };
  });
}

/** Deletes a flag; a 404 when there is none. */
export async function removeFlag(sql: Sql, codename: string): Promise<void> {
  if (!(await deleteFlag(sql, codename))) throw new HttpError(404, NOT_FOUND);
}

const DAY_MS = 86_400_000;

/**
 * A stale flag: neither evaluated by the application nor changed for
 * `staleDays` (flags read only in SQL look stale: the database does not
 * record its own evaluations).
 */
export function isStale(
  flag: { updated_at: Date },
  lastEvaluated: Date | undefined,
  staleDays: number,
  now = Date.now(),
): boolean {
  const since = now - staleDays * DAY_MS;
  return flag.updated_at.getTime() < since && (lastEvaluated?.getTime() ?? 0) < since;
}
