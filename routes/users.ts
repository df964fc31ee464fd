/**
 * Users: self-service (`/users/me`, signup) and superuser administration.
 *
 * @module
 */
import { createRoute } from "@hono/zod-openapi";
import { getUserById, listUsers } from "../db/users.ts";
import { changeUser, EmailTakenError, registerUser, removeUser } from "../lib/accounts.ts";
import { currentUser, superuserOnly } from "../lib/auth/current_user.ts";
import { assertRecentLogin, checkCurrentPassword } from "../lib/auth/login.ts";
import { HttpError } from "../lib/errors.ts";
import { isEnabled } from "../lib/flags.ts";
import { type AppDeps, newRouter } from "../lib/http.ts";
import { idempotent } from "../lib/idempotency.ts";
import { createAccount, updateOwnAccount } from "../services/accounts.ts";
import {
  BEARER,
  HttpErrorBody,
  IdParam,
  json,
  jsonRequest,
  Message,
  Page,
  toUserPublic,
  UpdatePassword,
  UserCreate,
  UserPublic,
  UserRegister,
  UsersPublic,
  UserUpdate,
  UserUpdateMe,
} from "./_schemas.ts";

const EXISTS = "The user with this email already exists in the system";
/** Signup is open only while this flag is on (it starts off). */
export const REGISTRATION_FLAG = "FF_ENABLE_REGISTRATION";

/** Maps a taken email to the status and message each endpoint documents. */
async function emailGuard<T>(
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

/** `/users/*`. */
export function userRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const auth = currentUser(deps);
  const admin = [auth, superuserOnly()];

  router.openapi(
    createRoute({
      method: "get",
      path: "/users",
      tags: ["users"],
      operationId: "users-read_users",
      summary: "List users, newest first (superuser)",
      middleware: admin,
      security: BEARER,
      request: { query: Page },
      responses: { 200: json(UsersPublic, "A page of users") },
    }),
    async (c) => {
      const page = await listUsers(sql, c.req.valid("query"));
      return c.json({ data: page.data.map(toUserPublic), count: page.count }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/users",
      tags: ["users"],
      operationId: "users-create_user",
      summary: "Create a user (superuser); emails them when email is configured",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: jsonRequest(UserCreate),
      responses: { 200: json(UserPublic, "The new user"), 400: json(HttpErrorBody, "Email taken") },
    }),
    async (c) => {
      const fields = c.req.valid("json");
      const user = await emailGuard(400, `${EXISTS}.`, () => createAccount(deps, fields));
      return c.json(toUserPublic(user), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/users/me",
      tags: ["users"],
      operationId: "users-read_user_me",
      summary: "The current user",
      middleware: [auth],
      security: BEARER,
      responses: { 200: json(UserPublic, "The current user") },
    }),
    (c) => c.json(toUserPublic(c.get("user")), 200),
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/users/me",
      tags: ["users"],
      operationId: "users-update_user_me",
      summary: "Update your own name or email (an email change needs a recent login)",
      middleware: [auth, idempotent(deps)],
      security: BEARER,
      request: jsonRequest(UserUpdateMe),
      responses: {
        200: json(UserPublic, "Updated"),
        400: json(HttpErrorBody, "Wrong current_password"),
        403: json(HttpErrorBody, "An email change without a recent login"),
        409: json(HttpErrorBody, "Email taken"),
      },
    }),
    async (c) => {
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
    },
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/users/me/password",
      tags: ["users"],
      operationId: "users-update_password_me",
      summary: "Change your password (revokes your other tokens)",
      middleware: [auth, idempotent(deps)],
      security: BEARER,
      request: jsonRequest(UpdatePassword),
      responses: {
        200: json(Message, "Updated"),
        400: json(HttpErrorBody, "Wrong or unchanged password"),
        429: json(HttpErrorBody, "Too many wrong passwords; see Retry-After"),
      },
    }),
    async (c) => {
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
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/users/me",
      tags: ["users"],
      operationId: "users-delete_user_me",
      summary: "Delete your own account and items",
      middleware: [auth, idempotent(deps)],
      security: BEARER,
      responses: { 200: json(Message, "Deleted"), 403: json(HttpErrorBody, "Superusers cannot") },
    }),
    async (c) => {
      const user = c.get("user");
      if (user.is_superuser) {
        throw new HttpError(403, "Super users are not allowed to delete themselves");
      }
      await removeUser(sql, user.id);
      return c.json({ message: "User deleted successfully" }, 200);
    },
  );

  router.openapi(
    createRoute({
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
    }),
    async (c) => {
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
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/users/{user_id}",
      tags: ["users"],
      operationId: "users-read_user_by_id",
      summary: "A user by id (yourself, or any as superuser)",
      middleware: [auth],
      security: BEARER,
      request: { params: IdParam("user_id") },
      responses: {
        200: json(UserPublic, "The user"),
        403: json(HttpErrorBody, "Not yours"),
        404: json(HttpErrorBody, "No such user"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").user_id as string;
      const me = c.get("user");
      if (id === me.id) return c.json(toUserPublic(me), 200);
      if (!me.is_superuser) throw new HttpError(403, "The user doesn't have enough privileges");
      const user = await getUserById(sql, id);
      if (user === undefined) throw new HttpError(404, "User not found");
      return c.json(toUserPublic(user), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/users/{user_id}",
      tags: ["users"],
      operationId: "users-update_user",
      summary: "Update a user (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: { params: IdParam("user_id"), ...jsonRequest(UserUpdate) },
      responses: {
        200: json(UserPublic, "Updated"),
        403: json(HttpErrorBody, "Last active superuser"),
        404: json(HttpErrorBody, "No such user"),
        409: json(HttpErrorBody, "Email taken"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").user_id as string;
      const user = await emailGuard(
        409,
        "User with this email already exists",
        () => changeUser(sql, id, c.req.valid("json")),
      );
      if (user === undefined) {
        throw new HttpError(404, "The user with this id does not exist in the system");
      }
      return c.json(toUserPublic(user), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/users/{user_id}",
      tags: ["users"],
      operationId: "users-delete_user",
      summary: "Delete a user and their items (superuser)",
      middleware: [...admin, idempotent(deps)],
      security: BEARER,
      request: { params: IdParam("user_id") },
      responses: {
        200: json(Message, "Deleted"),
        403: json(HttpErrorBody, "Yourself, or the last active superuser"),
        404: json(HttpErrorBody, "No such user"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").user_id as string;
      if (id === c.get("user").id) {
        throw new HttpError(403, "Super users are not allowed to delete themselves");
      }
      if (!(await removeUser(sql, id))) throw new HttpError(404, "User not found");
      return c.json({ message: "User deleted successfully" }, 200);
    },
  );

  return router;
}
