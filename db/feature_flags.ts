/**
 * The `feature_flags` table. Every write fires a NOTIFY (by trigger), so
 * process caches see changes made here, by the CLI or by plain SQL.
 *
 * @module
 */
import type { Sql, Tx } from "./client.ts";

/** The channel the table's trigger notifies on. */
export const FLAGS_CHANNEL = "tusk_feature_flags";

/** A row of `feature_flags`. */
export interface FeatureFlag {
  codename: string;
  is_active: boolean;
  label: string | null;
  description: string | null;
  updated_at: Date;
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
  flag: {
    codename: string;
    is_active?: boolean;
    label?: string | null;
    description?: string | null;
  },
): Promise<FeatureFlag> {
  const [row] = await sql<FeatureFlag[]>`
    insert into feature_flags (codename, is_active, label, description)
    values (${flag.codename}, ${flag.is_active ?? false}, ${flag.label ?? null}, ${
    flag.description ?? null
  })
    returning *
  `;
  return row!;
}

/** Changes a flag; undefined when there is none. */
export async function updateFlag(
  sql: Sql | Tx,
  codename: string,
  changes: { is_active?: boolean; label?: string | null; description?: string | null },
): Promise<FeatureFlag | undefined> {
  const columns = (["is_active", "label", "description"] as const).filter((k) =>
    changes[k] !== undefined
  );
  if (columns.length === 0) return await getFlag(sql, codename);
  const [row] = await sql<FeatureFlag[]>`
    update feature_flags set ${sql(changes, columns)} where codename = ${codename} returning *
  `;
  return row;
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
