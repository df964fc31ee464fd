/**
 * `POST /private/users/`: create a user without auth, for local development
 * and end-to-end tests. Mounted only when `ENVIRONMENT=local`.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { EmailTakenError, registerUser } from "../services/accounts.ts";
import { HttpError } from "../lib/http_error.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { Email, HttpErrorBody, json, Password, toUserPublic, UserPublic } from "./schemas.ts";

const PrivateUserCreate = z.object({
  email: Email,
  password: Password,
  full_name: z.string().max(255),
  // Accepted for compatibility with the template; Tusk has no verification state.
  is_verified: z.boolean().default(false),
}).openapi("PrivateUserCreate");

/** The private router; the app mounts it only in local. */
export function privateRoutes(deps: AppDeps) {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/private/users",
      tags: ["private"],
      operationId: "private-create_user",
      summary: "Create a user without authentication (ENVIRONMENT=local only)",
      request: {
        body: { required: true, content: { "application/json": { schema: PrivateUserCreate } } },
      },
      responses: { 200: json(UserPublic, "The new user"), 400: json(HttpErrorBody, "Email taken") },
    }),
    async (c) => {
      const { email, password, full_name } = c.req.valid("json");
      try {
        const user = await registerUser(deps.sql, { email, password, full_name });
        return c.json(toUserPublic(user), 200);
      } catch (error) {
        if (error instanceof EmailTakenError) {
          throw new HttpError(400, "The user with this email already exists in the system");
        }
        throw error;
      }
    },
  );
  return router;
}
