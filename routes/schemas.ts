/**
 * The API's shapes (docs/api.md), as zod schemas that both validate
 * requests and document them in OpenAPI.
 *
 * @module
 */
import { z } from "@hono/zod-openapi";
import type { EmailLogEntry } from "../db/email_log.ts";
import type { HistoryEvent } from "../db/history.ts";
import type { Item } from "../db/items.ts";
import type { User } from "../db/users.ts";
import { Email, Password } from "../lib/credentials.ts";

export { Email, Password };
const FullName = z.string().max(255).nullable();

export const Message = z.object({ message: z.string() }).openapi("Message");
export const HttpErrorBody = z.object({ detail: z.string() }).openapi("HTTPError");
export const Token = z.object({ access_token: z.string(), token_type: z.literal("bearer") })
  .openapi("Token");

export const UserPublic = z.object({
  id: z.uuid(),
  email: z.string(),
  is_active: z.boolean(),
  is_superuser: z.boolean(),
  full_name: z.string().nullable(),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("UserPublic");
export const UsersPublic = z.object({ data: z.array(UserPublic), count: z.number().int() }).openapi(
  "UsersPublic",
);

export const UserCreate = z.object({
  email: Email,
  password: Password,
  is_active: z.boolean().default(true),
  is_superuser: z.boolean().default(false),
  full_name: FullName.optional(),
}).openapi("UserCreate");
export const UserRegister = z.object({
  email: Email,
  password: Password,
  full_name: FullName.optional(),
})
  .openapi("UserRegister");
export const UserUpdate = z.object({
  email: Email.optional(),
  is_active: z.boolean().optional(),
  is_superuser: z.boolean().optional(),
  full_name: FullName.optional(),
  password: Password.optional(),
}).openapi("UserUpdate");
export const UserUpdateMe = z.object({
  full_name: FullName.optional(),
  email: Email.optional(),
  // Tusk: proves a recent login for an email change made with an older token.
  current_password: z.string().min(1).max(128).optional(),
}).openapi("UserUpdateMe");
export const UpdatePassword = z.object({ current_password: Password, new_password: Password })
  .openapi("UpdatePassword");
export const NewPassword = z.object({ token: z.string().min(1).max(512), new_password: Password })
  .openapi("NewPassword");

export const ItemPublic = z.object({
  id: z.uuid(),
  title: z.string(),
  description: z.string().nullable(),
  owner_id: z.uuid(),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("ItemPublic");
export const ItemsPublic = z.object({ data: z.array(ItemPublic), count: z.number().int() }).openapi(
  "ItemsPublic",
);
export const ItemCreate = z.object({
  title: z.string().min(1).max(255),
  description: z.string().max(255).nullable().optional(),
}).openapi("ItemCreate");
export const ItemUpdate = z.object({
  title: z.string().min(1).max(255).optional(),
  description: z.string().max(255).nullable().optional(),
}).openapi("ItemUpdate");

/** `skip` and `limit` (at most 1000), as the template's list endpoints take them. */
export const Page = z.object({
  skip: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(0).max(1000).default(100),
});

/** An ISO-8601 date-time with an offset, or a date (midnight UTC), as a query filter. */
export const Instant = z.union([z.iso.datetime({ offset: true }), z.iso.date()])
  .transform((v) => new Date(v))
  .openapi({ type: "string", format: "date-time" });

/** An audit history event (see docs/history.md). */
export const HistoryEventPublic = z.object({
  id: z.string().openapi({ description: "A bigint as a string; events are ordered by it" }),
  table: z.string(),
  row_id: z.string(),
  op: z.enum(["insert", "update", "delete"]),
  label: z.string(),
  at: z.string().openapi({ format: "date-time" }),
  data: z.record(z.string(), z.unknown()),
  diff: z.record(z.string(), z.tuple([z.unknown(), z.unknown()])).nullable(),
  context: z.record(z.string(), z.unknown()).nullable(),
  db_user: z.string(),
  application_name: z.string().nullable(),
}).openapi("HistoryEvent");
export const HistoryEventsPublic = z.object({
  data: z.array(HistoryEventPublic),
  count: z.number().int(),
}).openapi("HistoryEvents");

/** An event as clients see it. */
export function toHistoryEventPublic(event: HistoryEvent): z.infer<typeof HistoryEventPublic> {
  return { ...event, at: event.at.toISOString() };
}

/** A page of events as clients see it. */
export function toHistoryEventsPublic(
  page: { data: HistoryEvent[]; count: number },
): z.infer<typeof HistoryEventsPublic> {
  return { data: page.data.map(toHistoryEventPublic), count: page.count };
}

/** One row of the email log (see docs/email.md): never a body or a link. */
export const EmailLogEntryPublic = z.object({
  id: z.uuid(),
  template: z.string().nullable(),
  to: z.string(),
  subject: z.string(),
  status: z.enum(["sent", "failed", "skipped"]),
  transport: z.enum(["smtp", "file", "off"]),
  message_id: z.string().nullable(),
  smtp_response: z.string().nullable()
    .openapi({ description: "The mail server's final reply, or its refusal" }),
  error: z.string().nullable().openapi({ description: "Why a failed send failed" }),
  attempt: z.number().int().nullable(),
  job_id: z.uuid().nullable(),
  user_id: z.uuid().nullable(),
  at: z.string().openapi({ format: "date-time" }),
}).openapi("EmailLogEntry");
export const EmailLogPublic = z.object({
  data: z.array(EmailLogEntryPublic),
  count: z.number().int(),
}).openapi("EmailLog");

/** A page of the email log as clients see it. */
export function toEmailLogPublic(
  page: { data: EmailLogEntry[]; count: number },
): z.infer<typeof EmailLogPublic> {
  return {
    data: page.data.map((entry) => ({ ...entry, at: entry.at.toISOString() })),
    count: page.count,
  };
}

/** A path id: a malformed one is a 422, never a 500. */
export const IdParam = (name: string) => z.object({ [name]: z.uuid() });

/** The bearer-token requirement, as OpenAPI security. */
export const BEARER = [{ OAuth2PasswordBearer: [] }];

/** A required JSON request body, for route declarations. */
export function jsonRequest<T>(schema: T) {
  return { body: { required: true, content: { "application/json": { schema } } } };
}

/** JSON content helper for route declarations. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A user as clients see it: no password hash, no token version. */
export function toUserPublic(user: User): z.infer<typeof UserPublic> {
  return {
    id: user.id,
    email: user.email,
    is_active: user.is_active,
    is_superuser: user.is_superuser,
    full_name: user.full_name,
    created_at: user.created_at.toISOString(),
  };
}

/** An item as clients see it. */
export function toItemPublic(item: Item): z.infer<typeof ItemPublic> {
  return { ...item, created_at: item.created_at.toISOString() };
}
