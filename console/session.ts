/**
 * The console's security: the session cookie, sessions kept in Postgres, the
 * CSRF token every state-changing request carries, and the flash message a
 * redirect leaves for the next page.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { timingSafeEqual } from "node:crypto";
import type { Sql } from "../db/client.ts";
import { findSession, touchSession } from "../db/console_sessions.ts";
import { randomToken } from "../db/tokens.ts";
import { addHistoryMetadata } from "../db/history_context.ts";
import { HttpError } from "../lib/http_error.ts";
import type { ConsoleContext, ConsoleEnv } from "./context.ts";
import { formText } from "./params.ts";

/** The session cookie. */
export const SESSION_COOKIE = "tusk_console";
// Double-submit token for the login form, which has no session to hold a token yet.
const LOGIN_COOKIE = "tusk_console_login";
const FLASH_COOKIE = "tusk_console_flash";
/** The form field, and the header (for scripts), that carry the CSRF token. */
export const CSRF_FIELD = "_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
/** The label the console's changes carry in audit history. */
export const HISTORY_LABEL = "console";
// Touching the session on every request would be a write per page view for nothing; a tenth
// of the idle timeout keeps a session in use from ever looking idle.
const TOUCH_AFTER_MS = 60_000;

/** A message for the next page: what the last action did, or why it did not. */
export interface Flash {
  kind: "ok" | "error";
  text: string;
}

function cookieOptions(c: ConsoleContext) {
  return {
    path: c.get("base"),
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: c.get("secure"),
  };
}

/** Sets the session cookie (a session cookie in the browser's sense too: gone when it closes). */
export function setSessionCookie(c: ConsoleContext, token: string): void {
  setCookie(c, SESSION_COOKIE, token, cookieOptions(c));
}

/** Clears the session cookie. */
export function clearSessionCookie(c: ConsoleContext): void {
  deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
}

/** The session token the browser sent, if any. */
export function sessionToken(c: ConsoleContext): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** A fresh login-form token, also set as a cookie the form's post must match. */
export function issueLoginToken(c: ConsoleContext): string {
  const token = randomToken();
  setCookie(c, LOGIN_COOKIE, token, cookieOptions(c));
  return token;
}

/** Refuses (403) a login post whose token does not match its cookie. */
export function checkLoginToken(c: ConsoleContext, sent: unknown): void {
  const expected = getCookie(c, LOGIN_COOKIE);
  if (expected === undefined || typeof sent !== "string" || !same(sent, expected)) {
    throw csrfRefused();
  }
  deleteCookie(c, LOGIN_COOKIE, cookieOptions(c));
}

/** Leaves `flash` for the next page the browser loads. */
export function setFlash(c: ConsoleContext, flash: Flash): void {
  setCookie(c, FLASH_COOKIE, encodeURIComponent(JSON.stringify(flash)), {
    ...cookieOptions(c),
    maxAge: 60,
  });
}

/** The flash left by the last action, cleared as it is read. */
export function takeFlash(c: ConsoleContext): Flash | undefined {
  const raw = getCookie(c, FLASH_COOKIE);
  if (raw === undefined) return undefined;
  deleteCookie(c, FLASH_COOKIE, cookieOptions(c));
  try {
    const flash = JSON.parse(decodeURIComponent(raw));
    if ((flash.kind === "ok" || flash.kind === "error") && typeof flash.text === "string") {
      return { kind: flash.kind, text: flash.text.slice(0, 1000) };
    }
  } catch {
    // A cookie we did not write: ignore it.
  }
  return undefined;
}

function same(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function csrfRefused(): HttpError {
  return new HttpError(
    403,
    "The form's security token is missing or out of date. Reload the page and try again.",
  );
}

/**
 * Sets what every console request needs: whether cookies get `Secure`, the
 * project's name, and the console's own headers (a strict CSP: our own
 * files only, no inline script or style; nothing cached).
 */
export function consoleSettings(
  settings: { secure: boolean; projectName: string; base: string },
): MiddlewareHandler<ConsoleEnv> {
  return async function consoleSettings(c, next) {
    c.set("secure", settings.secure);
    c.set("projectName", settings.projectName);
    c.set("base", settings.base);
    await next();
    // A page may be stricter or different (the email preview's sandboxed document).
    if (!c.res.headers.has("Content-Security-Policy")) {
      c.res.headers.set("Content-Security-Policy", CSP);
    }
    if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
  };
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; " +
  "base-uri 'none'";

/**
 * Lets through only a live session (neither expired nor idle for
 * `idleMinutes`) of an active superuser; sets `operator`
 * and `csrf`, and tags the request's audit history with the operator and the
 * `console` label. Without one, the browser is sent to the login page (an
 * htmx request gets a 401 whose `HX-Redirect` says so), with a notice when
 * a session it had has ended. Every method but GET and HEAD must carry the
 * session's CSRF token.
 */
export function requireSession(
  sql: Sql,
  options: { idleMinutes: number },
): MiddlewareHandler<ConsoleEnv> {
  const touchAfterMs = Math.min(TOUCH_AFTER_MS, options.idleMinutes * 6_000);
  return async function requireSession(c, next) {
    const token = sessionToken(c);
    const session = token === undefined
      ? undefined
      : await findSession(sql, token, options.idleMinutes);
    if (session === undefined || token === undefined) {
      const login = `${c.get("base")}/login`;
      if (token !== undefined) {
        clearSessionCookie(c);
        setFlash(c, { kind: "error", text: SESSION_ENDED });
      }
      if (c.req.header("HX-Request") === "true") {
        return c.body(null, 401, { "HX-Redirect": login });
      }
      return c.redirect(login, 303);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const sent = c.req.header(CSRF_HEADER) ?? (await formText(c))?.[CSRF_FIELD];
      if (sent === undefined || !same(sent, session.csrfToken)) throw csrfRefused();
    }
    if (Date.now() - session.lastSeenAt.getTime() > touchAfterMs) {
      await touchSession(sql, token);
    }
    c.set("operator", session.user);
    c.set("csrf", session.csrfToken);
    addHistoryMetadata({ user_id: session.user.id, label: HISTORY_LABEL });
    await next();
  };
}

const SESSION_ENDED = "Your console session has ended. Log in again.";
