/**
 * Reading the console's query strings and forms: bad input is a 400 page
 * that says what to fix, never a 500.
 *
 * @module
 */
import { HttpError } from "../lib/http_error.ts";
import type { ConsoleContext } from "./context.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Past this, a page number is a typo (a million rows at 25 a page is 40,000 pages).
const MAX_PAGE = 100_000;

/** The `page` query parameter: 1 when absent. */
export function pageParam(c: ConsoleContext): number {
  const raw = c.req.query("page");
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new HttpError(400, `page must be a whole number from 1 to ${MAX_PAGE}`);
  }
  return n;
}

/** A query parameter, trimmed, undefined when empty; a 400 when longer than `max`. */
export function textParam(c: ConsoleContext, name: string, max = 255): string | undefined {
  const value = c.req.query(name)?.trim();
  if (value === undefined || value === "") return undefined;
  if (value.length > max) throw new HttpError(400, `${name} is too long (at most ${max})`);
  return value;
}

/** Whether `value` is a UUID (ids of users, items and jobs). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A UUID path parameter; a 404 (like the API) when it is not one. */
export function uuidParam(c: ConsoleContext, name: string, what: string): string {
  const value = c.req.param(name) ?? "";
  if (!isUuid(value)) throw new HttpError(404, `${what} not found`);
  return value;
}

/** The text fields of a posted form, or undefined when the body is not a form. */
export async function formText(c: ConsoleContext): Promise<Record<string, string> | undefined> {
  const type = c.req.header("Content-Type") ?? "";
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) return undefined;
  const body = await c.req.parseBody();
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string") fields[k] = v;
  return fields;
}

/** The text fields of a posted form; a 400 when the body is not one. */
export async function formFields(c: ConsoleContext): Promise<Record<string, string>> {
  const fields = await formText(c);
  if (fields === undefined) {
    throw new HttpError(400, "Send the form as application/x-www-form-urlencoded");
  }
  return fields;
}

/**
 * What to tell an operator about the first field the API's schema refused
 * (`error` is zod's): `words` for that field, a sentence or one built from
 * zod's message.
 */
export function firstProblem(
  error: { issues: { path: PropertyKey[]; message: string }[] },
  words: Record<string, string | ((message: string) => string)>,
): string {
  const issue = error.issues[0];
  const said = issue === undefined ? undefined : words[String(issue.path[0])];
  if (said === undefined) return issue?.message ?? "Check the form";
  return typeof said === "string" ? said : said(issue!.message);
}
