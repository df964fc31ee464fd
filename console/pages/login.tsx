/**
 * Logging in and out of the console. The password check is the API's own
 * (`authenticate()`: the same throttling, the same answers); only active
 * superusers get a session.
 *
 * @module
 */
import { Hono } from "hono";
import { createSession, deleteSession, findSession } from "../../db/console_sessions.ts";
import { authenticate } from "../../services/auth/login.ts";
import { clientAddress } from "../../http/client_address.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { AppDeps } from "../../http/router.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import {
  checkLoginToken,
  clearSessionCookie,
  issueLoginToken,
  requireSession,
  sessionToken,
  setFlash,
  setSessionCookie,
} from "../session.ts";
import { formText } from "../params.ts";
import { href, page } from "../ui.tsx";

/** The refusal a valid login of a non-superuser gets. */
export const NOT_SUPERUSER = "This console is for superusers only. Ask one to grant you access.";

function loginPage(
  c: ConsoleContext,
  options: { email?: string; error?: string; status?: 400 | 403 | 429 } = {},
) {
  const token = issueLoginToken(c);
  return page(
    c,
    "Log in",
    <form method="post" action={href(c, "/login")} class="login">
      <input type="hidden" name="_login" value={token} />
      <label for="email">Email</label>
      <input
        id="email"
        name="email"
        type="email"
        autocomplete="username"
        required
        maxlength={255}
        value={options.email}
      />
      <label for="password">Password</label>
      <input
        id="password"
        name="password"
        type="password"
        autocomplete="current-password"
        required
        maxlength={1024}
      />
      <button type="submit">Log in</button>
    </form>,
    {
      status: options.status,
      flash: options.error === undefined ? undefined : { kind: "error", text: options.error },
    },
  );
}

/** `/login` and `/logout`. */
export function loginPages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql, config } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/login", async (c) => {
    const token = sessionToken(c);
    if (
      token !== undefined && await findSession(sql, token, config.consoleIdleMinutes) !== undefined
    ) {
      return c.redirect(href(c, ""), 303);
    }
    return loginPage(c);
  });

  router.post("/login", async (c) => {
    const form = await formText(c) ?? {};
    checkLoginToken(c, form._login);
    const email = form.email?.trim() ?? "";
    const password = form.password ?? "";
    if (email === "" || password === "" || email.length > 255 || password.length > 1024) {
      return loginPage(c, { email, error: "Enter your email and password.", status: 400 });
    }
    let user;
    try {
      const client = clientAddress(c, config.trustedProxies);
      user = await authenticate(sql, config, { email, password, client });
    } catch (error) {
      if (error instanceof HttpError && (error.status === 400 || error.status === 429)) {
        c.header("Retry-After", error.headers["Retry-After"]);
        return loginPage(c, { email, error: error.message, status: error.status });
      }
      throw error;
    }
    if (!user.is_superuser) return loginPage(c, { email, error: NOT_SUPERUSER, status: 403 });
    setSessionCookie(c, await createSession(sql, user, config.consoleSessionHours));
    return c.redirect(href(c, ""), 303);
  });

  router.post(
    "/logout",
    requireSession(sql, { idleMinutes: config.consoleIdleMinutes }),
    async (c) => {
      await deleteSession(sql, sessionToken(c)!);
      clearSessionCookie(c);
      setFlash(c, { kind: "ok", text: "You are logged out." });
      return c.redirect(href(c, "/login"), 303);
    },
  );

  return router;
}
