/**
 * Test data: users with known passwords, and tokens obtained the way a
 * client gets them (through the login endpoint).
 *
 * @module
 */
import type { Hono } from "hono";
import type { Sql } from "../db/client.ts";
import type { User } from "../db/users.ts";
import { registerUser } from "../services/accounts.ts";

/** A user plus the plain password it was created with. */
export interface TestUser {
  user: User;
  email: string;
  password: string;
}

let counter = 0;

/** Creates a user with a unique email and a known password. */
export async function makeUser(
  sql: Sql,
  options: { superuser?: boolean; active?: boolean; email?: string; password?: string } = {},
): Promise<TestUser> {
  const email = options.email ?? `user${++counter}-${crypto.randomUUID().slice(0, 6)}@example.com`;
  const password = options.password ?? "correct horse battery";
  const user = await registerUser(sql, {
    email,
    password,
    is_superuser: options.superuser ?? false,
    is_active: options.active ?? true,
  });
  return { user, email, password };
}

/** Logs in through `POST /login/access-token`; throws unless it answers 200. */
export async function login(
  app: Hono<never> | { request: Hono["request"] },
  email: string,
  password: string,
) {
  const res = await app.request("/api/v1/login/access-token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: email, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return (await res.json()).access_token as string;
}

/** Authorization header for a bearer token. */
export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/** JSON request init. */
export function jsonBody(
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): RequestInit {
  return {
    method,
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Calls the app and returns the status and parsed JSON body (undefined when
 * empty). The body stays JSON.parse's `any`: tests assert on it field by field.
 */
export async function call(
  app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> },
  path: string,
  init?: RequestInit,
) {
  const res = await app.request(path, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** `POST /api/v1/users/signup` with a fresh email on the server at `base`; resolves with the status. */
export async function signupStatus(base: string): Promise<number> {
  const res = await fetch(`${base}/api/v1/users/signup`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: `${crypto.randomUUID()}@example.com`, password: "password123" }),
  });
  await res.body?.cancel();
  return res.status;
}
