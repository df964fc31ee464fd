/**
 * Login, password recovery and reset, as the FastAPI template answers them.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { getUserByEmail } from "../db/users.ts";
import { passwordRecovery, PREVIEW_TOKEN, renderRecoveryEmail } from "../jobs/password_recovery.ts";
import { resetPassword } from "../services/auth/password_reset.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { signAccessToken } from "../lib/jwt.ts";
import { authenticate } from "../services/auth/login.ts";
import { consume, throttlePolicies } from "../services/auth/throttle.ts";
import { clientAddress } from "../http/client_address.ts";
import { HttpError } from "../lib/http_error.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import {
  BEARER,
  HttpErrorBody,
  json,
  Message,
  NewPassword,
  Token,
  toUserPublic,
  UserPublic,
} from "./schemas.ts";

const LoginForm = z.object({
  username: z.string().max(255),
  password: z.string().max(1024),
  // OAuth2 password flow fields: accepted and ignored.
  grant_type: z.string().optional(),
  scope: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
}).openapi("Body_login-login_access_token");

/**
 * On answers that carry a credential (RFC 6749 §5.1): no cache keeps them,
 * and neither does the Idempotency-Key store.
 */
const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

const RECOVERY_MESSAGE = "If that email is registered, we sent a password recovery link";

/** `/login/*`, `/password-recovery/*` and `/reset-password/`. */
export function loginRoutes(deps: AppDeps) {
  const { sql, config } = deps;
  const router = newRouter();
  const auth = currentUser(deps);
  const limits = throttlePolicies(config.throttle);

  router.openapi(
    createRoute({
      method: "post",
      path: "/login/access-token",
      tags: ["login"],
      operationId: "login-login_access_token",
      summary: "OAuth2 password login: an access token for later requests",
      request: {
        body: {
          required: true,
          content: { "application/x-www-form-urlencoded": { schema: LoginForm } },
        },
      },
      responses: {
        200: json(Token, "Access token"),
        400: json(HttpErrorBody, "Incorrect email or password, or inactive user"),
        429: json(HttpErrorBody, "Too many failed attempts; see Retry-After"),
      },
    }),
    async (c) => {
      const { username, password } = c.req.valid("form");
      const client = clientAddress(c, config.trustedProxies);
      const user = await authenticate(sql, config, { email: username, password, client });
      const token = await signAccessToken(
        config.secretKey,
        { sub: user.id, ver: user.token_version },
        config.accessTokenExpireMinutes,
      );
      return c.json({ access_token: token, token_type: "bearer" as const }, 200, NO_STORE);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/login/test-token",
      tags: ["login"],
      operationId: "login-test_token",
      summary: "Test an access token",
      middleware: [auth, idempotent(deps)],
      security: BEARER,
      responses: { 200: json(UserPublic, "The token's user") },
    }),
    (c) => c.json(toUserPublic(c.get("user")), 200),
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/password-recovery/{email}",
      tags: ["login"],
      operationId: "login-recover_password",
      summary: "Email a password reset link (same answer whether or not the email exists)",
      request: { params: z.object({ email: z.string().min(1).max(255) }) },
      responses: {
        200: json(Message, "Sent if registered"),
        429: json(HttpErrorBody, "Too many recovery requests; see Retry-After"),
      },
    }),
    async (c) => {
      const { email } = c.req.valid("param");
      await consume(
        sql,
        limits.recoveryPerClient,
        clientAddress(c, config.trustedProxies),
        "recovery requests",
      );
      await consume(sql, limits.recoveryPerEmail, email, "recovery requests");
      const user = await getUserByEmail(sql, email);
      if (user !== undefined) {
        // Queued with the user id only: the worker mints the token and sends the link, so
        // the link is never stored in clear, and a slow mail server never shows here.
        await passwordRecovery.delay({ userId: user.id });
      }
      return c.json({ message: RECOVERY_MESSAGE }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/reset-password",
      tags: ["login"],
      operationId: "login-reset_password",
      summary: "Set a new password with a reset token",
      request: {
        body: { required: true, content: { "application/json": { schema: NewPassword } } },
      },
      responses: {
        200: json(Message, "Password updated"),
        400: json(HttpErrorBody, "Invalid token, or inactive user"),
        429: json(HttpErrorBody, "Too many attempts with bad tokens; see Retry-After"),
      },
    }),
    async (c) => {
      const { token, new_password } = c.req.valid("json");
      const client = clientAddress(c, config.trustedProxies);
      await resetPassword(sql, config, { token, newPassword: new_password, client });
      return c.json({ message: "Password updated successfully" }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/password-recovery-html-content/{email}",
      tags: ["login"],
      operationId: "login-recover_password_html_content",
      summary: "Preview the password recovery email, with a placeholder token (superuser)",
      middleware: [auth, superuserOnly(), idempotent(deps)],
      security: BEARER,
      request: { params: z.object({ email: z.string().min(1).max(255) }) },
      responses: {
        200: { description: "The email's HTML", content: { "text/html": { schema: z.string() } } },
        404: json(HttpErrorBody, "No such user"),
      },
    }),
    async (c) => {
      const user = await getUserByEmail(sql, c.req.valid("param").email);
      if (user === undefined) {
        throw new HttpError(404, "The user with this username does not exist in the system.");
      }
      // A placeholder, never a live token: this page would hand over the account.
      const message = renderRecoveryEmail(config, user, PREVIEW_TOKEN);
      return c.html(message.html, 200, NO_STORE);
    },
  );

  return router;
}
