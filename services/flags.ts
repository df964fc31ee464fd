/**
 * Feature flag rules shared by the flag API and the console: what a codename
 * may be, and the answers for a taken or unknown one.
 *
 * @module
 */
import { z } from "zod";
import { isUniqueViolation, type Sql } from "../db/client.ts";
import { createFlag, deleteFlag, type FeatureFlag, updateFlag } from "../db/feature_flags.ts";
import { HttpError } from "../lib/http_error.ts";

/** A flag's codename: a letter, then letters, digits, `_`, `.` or `-`; at most 100. */
export const Codename = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/, {
  message: "Use a letter, then letters, digits, _, . or - (at most 100 characters)",
});

const NOT_FOUND = "Feature flag not found";

/** Creates a flag; a 409 when the codename is taken. */
export async function addFlag(
  sql: Sql,
  flag: Parameters<typeof createFlag>[1],
): Promise<FeatureFlag> {
  try {
    return await createFlag(sql, flag);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new HttpError(409, "A feature flag with this codename already exists");
    }
    throw error;
  }
}

/** Changes a flag; a 404 when there is none. */
export async function changeFlag(
  sql: Sql,
  codename: string,
  changes: Parameters<typeof updateFlag>[2],
): Promise<FeatureFlag> {
  const flag = await updateFlag(sql, codename, changes);
  if (flag === undefined) throw new HttpError(404, NOT_FOUND);
  return flag;
}

/** Deletes a flag; a 404 when there is none. */
export async function removeFlag(sql: Sql, codename: string): Promise<void> {
  if (!(await deleteFlag(sql, codename))) throw new HttpError(404, NOT_FOUND);
}
