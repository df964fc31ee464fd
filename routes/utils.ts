/**
 * `/utils/test-email/`: sends the test email (superuser).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { testEmail } from "../emails/templates.ts";
import { currentUser, superuserOnly } from "../lib/auth/current_user.ts";
import { HttpError } from "../lib/errors.ts";
import { type AppDeps, newRouter } from "../lib/http.ts";
import { BEARER, Email, HttpErrorBody, json, Message } from "./_schemas.ts";

/** The utils routes that need auth (the health check lives in routes/health.ts). */
export function utilsRoutes(deps: AppDeps) {
  const { config, mailer, log } = deps;
  const router = newRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/utils/test-email",
      tags: ["utils"],
      summary: "Send a test email (superuser)",
      middleware: [currentUser(deps), superuserOnly()],
      security: BEARER,
      request: { query: z.object({ email_to: Email }) },
      responses: {
        201: json(Message, "Sent"),
        502: json(HttpErrorBody, "The mail server refused or did not answer"),
      },
    }),
    async (c) => {
      const { email_to } = c.req.valid("query");
      try {
        await mailer.send(
          email_to,
          testEmail({ projectName: config.projectName, email: email_to }),
        );
      } catch (error) {
        log.error("test email failed", { request_id: c.get("requestId"), error });
        throw new HttpError(502, "The email could not be sent; see the server log");
      }
      return c.json({ message: "Test email sent" }, 201);
    },
  );
  return router;
}
