/**
 * Self-service under `/users`: the current user (`/users/me`, its password,
 * deleting it) and open sign-up. Registered by {@link userRoutes} before
 * `/users/{user_id}`, so `me` is never read as an id.
 *
 * @module
 */
import { createRoute } from "@hono/zod-openapi";
import { currentUser } from "../http/current_user.ts";
import { idempotent } from "../http/idempotency.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { HttpError } from "../lib/http_error.ts";
import {
  changeUser,
  EmailTakenError,
  registerUser,
  removeUser,
  updateOwnAccount,
} from "../services/accounts.ts";
import { assertRecentLogin, checkCurrentPassword } from "../services/auth/login.ts";
import { isEnabled } from "../services/flag_cache.ts";
import {
  BEARER,
  HttpErrorBody,
  json,
  jsonRequest,
  Message,
  toUserPublic,
  UpdatePassword,
  UserPublic,
  UserRegister,
  UserUpdateMe,
} from "./schemas.ts";

/** The template's answer for a taken email at sign-up and creation. */
export const EXISTS = "The user with this email already exists in the system";
/** Signup is open only while this flag is on (it starts off). */
export const REGISTRATION_FLAG = "FF_ENABLE_REGISTRATION";

/** Maps a taken email to the status and message each endpoint documents. */
export async function emailGuard<T>(
  status: 400 | 409,
  detail: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof EmailTakenError) throw new HttpError(status, detail);
    throw error;
  }
}

const readUserMeRoute = createRoute({
  method: "get",
  path: "/users/me",
  tags: ["users"],
  operationId: "users-read_user_me",
  summary: "The current user",
  security: BEARER,
  responses: { 200: json(UserPublic, "The current user") },
});
const updateUserMeRoute = createRoute({
  method: "patch",
  path: "/users/me",
  tags: ["users"],
  operationId: "users-update_user_me",
  summary: "Update your own name or email (an email change needs a recent login)",
  security: BEARER,
  request: jsonRequest(UserUpdateMe),
  responses: {
    200: json(UserPublic, "Updated"),
    400: json(HttpErrorBody, "Wrong current_password"),
    403: json(HttpErrorBody, "An email change without a recent login"),
    409: json(HttpErrorBody, "Email taken"),
  },
});
const updatePasswordMeRoute = createRoute({
  method: "patch",
  path: "/users/me/password",
  tags: ["users"],
  operationId: "users-update_password_me",
  summary: "Change your password (revokes your other tokens)",
  security: BEARER,
  request: jsonRequest(UpdatePassword),
  responses: {
    200: json(Message, "Updated"),
    400: json(HttpErrorBody, "Wrong or unchanged password"),
    429: json(HttpErrorBody, "Too many wrong passwords; see Retry-After"),
  },
});
const deleteUserMeRoute = createRoute({
  method: "delete",
  path: "/users/me",
  tags: ["users"],
  operationId: "users-delete_user_me",
  summary: "Delete your own account and items",
  security: BEARER,
  responses: { 200: json(Message, "Deleted"), 403: json(HttpErrorBody, "Superusers cannot") },
});
const registerUserRoute = createRoute({
  method: "post",
  path: "/users/signup",
  tags: ["users"],
  operationId: "users-register_user",
  summary: "Open registration (while the FF_ENABLE_REGISTRATION flag is on)",
  request: jsonRequest(UserRegister),
  responses: {
    200: json(UserPublic, "The new user"),
    400: json(HttpErrorBody, "Email taken"),
    403: json(HttpErrorBody, "Registration is closed"),
  },
});

/** `/users/me*` and `/users/signup`. */
export function selfServiceRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const auth = currentUser(deps);

  router.openapi(
    { ...readUserMeRoute, middleware: [auth] },
    (c) => c.json(toUserPublic(c.get("user")), 200),
  );
  router.openapi({ ...updateUserMeRoute, middleware: [auth, idempotent(deps)] }, async (c) => {
    const { current_password, ...changes } = c.req.valid("json");
    const me = c.get("user");
    if (changes.email !== undefined && changes.email.toLowerCase() !== me.email.toLowerCase()) {
      await assertRecentLogin(sql, deps.config, {
        user: me,
        authenticatedAt: c.get("authenticatedAt"),
        currentPassword: current_password,
      }, "Changing your email");
    }
    const user = await emailGuard(
      409,
      "User with this email already exists",
      () => updateOwnAccount(deps, me, changes),
    );
    if (user === undefined) throw new HttpError(404, "User not found");
    return c.json(toUserPublic(user), 200);
  });
  router.openapi({ ...updatePasswordMeRoute, middleware: [auth, idempotent(deps)] }, async (c) => {
    const { current_password, new_password } = c.req.valid("json");
    const user = c.get("user");
    if (!(await checkCurrentPassword(sql, deps.config, user, current_password))) {
      throw new HttpError(400, "Incorrect password");
    }
    if (current_password === new_password) {
      throw new HttpError(400, "New password cannot be the same as the current one");
    }
    await changeUser(sql, user.id, { password: new_password });
    return c.json({ message: "Password updated successfully" }, 200);
  });
  router.openapi({ ...deleteUserMeRoute, middleware: [auth, idempotent(deps)] }, async (c) => {
    const user = c.get("user");
    if (user.is_superuser) {
      throw new HttpError(403, "Super users are not allowed to delete themselves");
    }
    await removeUser(sql, user.id);
    return c.json({ message: "User deleted successfully" }, 200);
  });
  router.openapi(registerUserRoute, async (c) => {
    if (!isEnabled(REGISTRATION_FLAG)) {
      throw new HttpError(403, "Open user registration is forbidden on this server");
    }
    const { email, password, full_name } = c.req.valid("json");
    const user = await emailGuard(
      400,
      EXISTS,
      () => registerUser(sql, { email, password, full_name }),
    );
    return c.json(toUserPublic(user), 200);
  });

  return router;
}
