/**
 * Users: self-service (`/users/me`, signup; in `users_me.ts`) and superuser
 * administration.
 *
 * @module
 */
import { createRoute } from "@hono/zod-openapi";
import { getUserById, listUsers } from "../db/users.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { idempotent } from "../http/idempotency.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { HttpError } from "../lib/http_error.ts";
import { changeUser, createAccount, removeUser } from "../services/accounts.ts";
import {
  BEARER,
  HttpErrorBody,
  IdParam,
  json,
  jsonRequest,
  Message,
  Page,
  toUserPublic,
  UserCreate,
  UserPublic,
  UsersPublic,
  UserUpdate,
} from "./schemas.ts";
import { emailGuard, EXISTS, selfServiceRoutes } from "./users_me.ts";

const readUsersRoute = createRoute({
  method: "get",
  path: "/users",
  tags: ["users"],
  operationId: "users-read_users",
  summary: "List users, newest first (superuser)",
  security: BEARER,
  request: { query: Page },
  responses: { 200: json(UsersPublic, "A page of users") },
});
const createUserRoute = createRoute({
  method: "post",
  path: "/users",
  tags: ["users"],
  operationId: "users-create_user",
  summary: "Create a user (superuser); emails them when email is configured",
  security: BEARER,
  request: jsonRequest(UserCreate),
  responses: { 200: json(UserPublic, "The new user"), 400: json(HttpErrorBody, "Email taken") },
});
const readUserByIdRoute = createRoute({
  method: "get",
  path: "/users/{user_id}",
  tags: ["users"],
  operationId: "users-read_user_by_id",
  summary: "A user by id (yourself, or any as superuser)",
  security: BEARER,
  request: { params: IdParam("user_id") },
  responses: {
    200: json(UserPublic, "The user"),
    403: json(HttpErrorBody, "Not yours"),
    404: json(HttpErrorBody, "No such user"),
  },
});
const updateUserRoute = createRoute({
  method: "patch",
  path: "/users/{user_id}",
  tags: ["users"],
  operationId: "users-update_user",
  summary: "Update a user (superuser)",
  security: BEARER,
  request: { params: IdParam("user_id"), ...jsonRequest(UserUpdate) },
  responses: {
    200: json(UserPublic, "Updated"),
    403: json(HttpErrorBody, "Last active superuser"),
    404: json(HttpErrorBody, "No such user"),
    409: json(HttpErrorBody, "Email taken"),
  },
});
const deleteUserRoute = createRoute({
  method: "delete",
  path: "/users/{user_id}",
  tags: ["users"],
  operationId: "users-delete_user",
  summary: "Delete a user and their items (superuser)",
  security: BEARER,
  request: { params: IdParam("user_id") },
  responses: {
    200: json(Message, "Deleted"),
    403: json(HttpErrorBody, "Yourself, or the last active superuser"),
    404: json(HttpErrorBody, "No such user"),
  },
});

/** `/users/*`: self-service first, then administration. */
export function userRoutes(deps: AppDeps) {
  const { sql } = deps;
  const router = newRouter();
  const auth = currentUser(deps);
  const admin = [auth, superuserOnly()];
  // First: `/users/me` must win over `/users/{user_id}`.
  router.route("/", selfServiceRoutes(deps));

  router.openapi({ ...readUsersRoute, middleware: admin }, async (c) => {
    const page = await listUsers(sql, c.req.valid("query"));
    return c.json({ data: page.data.map(toUserPublic), count: page.count }, 200);
  });
  router.openapi({ ...createUserRoute, middleware: [...admin, idempotent(deps)] }, async (c) => {
    const fields = c.req.valid("json");
    const user = await emailGuard(400, `${EXISTS}.`, () => createAccount(deps, fields));
    return c.json(toUserPublic(user), 200);
  });
  router.openapi({ ...readUserByIdRoute, middleware: [auth] }, async (c) => {
    const id = c.req.valid("param").user_id as string;
    const me = c.get("user");
    if (id === me.id) return c.json(toUserPublic(me), 200);
    if (!me.is_superuser) throw new HttpError(403, "The user doesn't have enough privileges");
    const user = await getUserById(sql, id);
    if (user === undefined) throw new HttpError(404, "User not found");
    return c.json(toUserPublic(user), 200);
  });
  router.openapi({ ...updateUserRoute, middleware: [...admin, idempotent(deps)] }, async (c) => {
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
  });
  router.openapi({ ...deleteUserRoute, middleware: [...admin, idempotent(deps)] }, async (c) => {
    const id = c.req.valid("param").user_id as string;
    if (id === c.get("user").id) {
      throw new HttpError(403, "Super users are not allowed to delete themselves");
    }
    if (!(await removeUser(sql, id))) throw new HttpError(404, "User not found");
    return c.json({ message: "User deleted successfully" }, 200);
  });

  return router;
}
