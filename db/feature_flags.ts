/**
 * The `feature_flags` table. Every write fires a NOTIFY (by trigger), so
 * process caches see changes made here, by the CLI or by plain SQL.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** The channel the table's trigger notifies on. */
export const FLAGS_CHANNEL = "tusk_feature_flags";

/** A rule as stored (its shape is `services/flag_rules.ts`'s to say). */
export type StoredRule = Record<string, unknown>;

/** A row of `feature_flags`. */
export interface FeatureFlag {
  codename: string;
  is_active: boolean;
  label: string | null;
  description: string | null;
  updated_at: Date;
  rules: StoredRule[];
  variants: Record<string, unknown> | null;
  default_variant: string | null;
  client_visible: boolean;
}

/** The columns a create or an update may set. */
export interface FlagFields {
  is_active?: boolean;
  label?: string | null;
  description?: string | null;
  rules?: StoredRule[];
  variants?: Record<string, unknown> | null;
  default_variant?: string | null;
  client_visible?: boolean;
}

const FIELDS = [
  "is_active",
  "label",
  "description",
  "rules",
  "variants",
  "default_variant",
  "client_visible",
] as const;

/** The fields as postgres.js writes them: JSON columns wrapped. */
function columnValues(sql: Sql | Tx, fields: FlagFields): Record<string, never> {
  const out: Record<string, unknown> = {};
  for (const k of FIELDS) {
    const v = fields[k];
    if (v === undefined) continue;
    out[k] = (k === "rules" || k === "variants") && v !== null ? sql.json(v as never) : v;
  }
  return out as Record<string, never>;
}

/** All flags, by codename. */
export async function listFlags(sql: Sql | Tx): Promise<FeatureFlag[]> {
  return await sql<FeatureFlag[]>`select * from feature_flags order by codename`;
}

/** One flag. */
export async function getFlag(sql: Sql | Tx, codename: string): Promise<FeatureFlag | undefined> {
  const [flag] = await sql<FeatureFlag[]>`select * from feature_flags where codename = ${codename}`;
  return flag;
}

/** Creates a flag; a taken codename raises a unique violation (23505). */
export async function createFlag(
  sql: Sql | Tx,
  flag: { codename: string } & FlagFields,
): Promise<FeatureFlag> {
  const values: Record<string, never> = {
    ...columnValues(sql, flag),
    codename: flag.codename as never,
  };
  const [row] = await sql<FeatureFlag[]>`
    insert into feature_flags ${sql(values, Object.keys(values))} returning *
  `;
  return row!;
}

/** Changes a flag; undefined when there is none. */
export async function updateFlag(
  sql: Sql | Tx,
  codename: string,
  changes: FlagFields,
): Promise<FeatureFlag | undefined> {
  const values = columnValues(sql, changes);
  const columns = Object.keys(values);
  if (columns.length === 0) return await getFlag(sql, codename);
  const [row] = await sql<FeatureFlag[]>`
    update feature_flags set ${sql(values, columns)} where codename = ${codename} returning *
  `;
  return row;
}

/** One flag, locked until the transaction ends (for a read-modify-write). */
export async function lockFlag(tx: Tx, codename: string): Promise<FeatureFlag | undefined> {
  const [flag] = await tx<FeatureFlag[]>`
    select * from feature_flags where codename = ${codename} for update`;
  return flag;
}

/** Flips a flag in one statement; undefined when there is none. */
export async function toggleFlag(
  sql: Sql | Tx,
  codename: string,
): Promise<FeatureFlag | undefined> {
  const [row] = await sql<FeatureFlag[]>`
    update feature_flags set is_active = not is_active where codename = ${codename} returning *
  `;
  return row;
}

/** Deletes a flag; true when one was deleted. */
export async function deleteFlag(sql: Sql | Tx, codename: string): Promise<boolean> {
  const rows = await sql`delete from feature_flags where codename = ${codename} returning 1`;
  return rows.length > 0;
}

/** When flags (all, or those named) were last evaluated by the application, by codename. */
export async function lastEvaluations(
  sql: Sql | Tx,
  codenames?: string[],
): Promise<Map<string, Date>> {
  const rows = await sql<{ codename: string; last_evaluated_at: Date }[]>`
    select codename, last_evaluated_at from tusk.flag_evaluations
    ${codenames === undefined ? sql`` : sql`where codename = any(${codenames})`}`;
  return new Map(rows.map((r) => [r.codename, r.last_evaluated_at]));
}

/** Records that these flags were evaluated now (unknown codenames are skipped). */
export async function recordEvaluations(sql: Sql | Tx, codenames: string[]): Promise<void> {
  await sql`
    insert into tusk.flag_evaluations (codename, last_evaluated_at)
    select codename, now() from feature_flags where codename = any(${codenames})
    on conflict (codename) do update set last_evaluated_at = excluded.last_evaluated_at`;
}
