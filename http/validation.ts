/**
 * Turns zod issues into FastAPI/pydantic-style 422 details, so clients
 * generated for the FastAPI template read our validation errors unchanged.
 *
 * @module
 */
import type { z } from "zod";

/** One entry of a 422 `detail` list, as pydantic v2 writes it. */
export interface ValidationDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** Where a value came from, named as FastAPI names it in `loc`. */
export type Location = "body" | "query" | "path" | "header" | "cookie";

const TARGETS: Record<string, Location> = {
  json: "body",
  form: "body",
  query: "query",
  param: "path",
  header: "header",
  cookie: "cookie",
};

/** Thrown at the edge when a request fails its schema; rendered as a 422. */
export class RequestValidationError extends Error {
  readonly detail: ValidationDetail[];

  constructor(detail: ValidationDetail[]) {
    super("Request validation failed");
    this.name = "RequestValidationError";
    this.detail = detail;
  }
}

/** Maps a Hono validator target (`json`, `param`, ...) to FastAPI's `loc` head. */
export function locationOf(target: string): Location {
  return TARGETS[target] ?? "body";
}

function valueAt(data: unknown, path: PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function plural(n: unknown, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const TYPE_NAMES: Record<string, [string, string]> = {
  string: ["string_type", "Input should be a valid string"],
  number: ["float_type", "Input should be a valid number"],
  int: ["int_type", "Input should be a valid integer"],
  boolean: ["bool_type", "Input should be a valid boolean"],
  object: [
    "model_attributes_type",
    "Input should be a valid dictionary or object to extract fields from",
  ],
  array: ["list_type", "Input should be a valid list"],
};

/** Pydantic's names for each side: string/list/strict/inclusive types, wording, ctx keys. */
const BOUNDS = {
  min: [
    "string_too_short",
    "too_short",
    "greater_than",
    "greater_than_equal",
    "at least",
    "ge",
    "gt",
  ],
  max: ["string_too_long", "too_long", "less_than", "less_than_equal", "at most", "le", "lt"],
} as const;

/** A length or range violation (zod too_small / too_big) as pydantic reports it. */
function boundDetail(
  side: "min" | "max",
  i: Record<string, unknown>,
  loc: (string | number)[],
  input: unknown,
): ValidationDetail {
  const [stringType, listType, strict, inclusive, words, geLe, gtLt] = BOUNDS[side];
  const limit = side === "min" ? i.minimum : i.maximum;
  if (i.origin === "string") {
    const ctx = { [side === "min" ? "min_length" : "max_length"]: limit };
    const msg = `String should have ${words} ${plural(limit, "character")}`;
    return { type: stringType, loc, msg, input, ctx };
  }
  if (i.origin === "array") {
    return {
      type: listType,
      loc,
      msg: `List should have ${words} ${plural(limit, "item")}`,
      input,
    };
  }
  const isStrict = i.inclusive === false;
  const relation = side === "min" ? "greater than" : "less than";
  return {
    type: isStrict ? strict : inclusive,
    loc,
    msg: `Input should be ${relation}${isStrict ? "" : " or equal to"} ${limit}`,
    input,
    ctx: { [isStrict ? gtLt : geLe]: limit },
  };
}

/** One zod issue as pydantic would have reported it. */
function detailOf(issue: z.core.$ZodIssue, location: Location, data: unknown): ValidationDetail {
  const path = issue.path.filter((k): k is string | number => typeof k !== "symbol");
  const loc = [location, ...path];
  const input = valueAt(data, issue.path);
  const i = issue as z.core.$ZodIssue & Record<string, unknown>;
  switch (issue.code) {
    case "invalid_type": {
      if (input === undefined) {
        return {
          type: "missing",
          loc,
          msg: "Field required",
          input: valueAt(data, issue.path.slice(0, -1)) ?? null,
        };
      }
      const [type, msg] = TYPE_NAMES[String(i.expected)] ?? ["value_error", issue.message];
      return { type, loc, msg, input };
    }
    case "too_small":
      return boundDetail("min", i, loc, input);
    case "too_big":
      return boundDetail("max", i, loc, input);
    case "invalid_format":
      if (i.format === "email") {
        return { type: "value_error", loc, msg: "value is not a valid email address", input };
      }
      if (i.format === "uuid" || String(i.format).startsWith("uuid")) {
        return { type: "uuid_parsing", loc, msg: "Input should be a valid UUID", input };
      }
      return { type: "string_pattern_mismatch", loc, msg: issue.message, input };
    case "invalid_value":
      return {
        type: "enum",
        loc,
        msg: `Input should be ${
          (i.values as unknown[]).map((v) => JSON.stringify(v)).join(" or ")
        }`,
        input,
      };
    case "unrecognized_keys":
      return { type: "extra_forbidden", loc, msg: "Extra inputs are not permitted", input };
    default:
      return { type: "value_error", loc, msg: issue.message, input: input ?? null };
  }
}

/**
 * Converts a failed zod parse into the 422 detail list.
 *
 * @example
 * ```ts
 * const r = schema.safeParse(body);
 * if (!r.success) throw new RequestValidationError(toValidationDetails(r.error, "body", body));
 * ```
 */
export function toValidationDetails(
  error: z.ZodError,
  location: Location,
  data: unknown,
): ValidationDetail[] {
  return error.issues.map((issue) => detailOf(issue, location, data));
}

/**
 * The `defaultHook` for every OpenAPIHono router: a failed parse becomes a
 * {@link RequestValidationError}, which the app's error handler renders.
 */
export function validationHook(
  result: { success: boolean; error?: unknown; data?: unknown; target: string },
) {
  if (!result.success) {
    throw new RequestValidationError(
      toValidationDetails(result.error as z.ZodError, locationOf(result.target), result.data),
    );
  }
}
