/**
 * `/utils/test-email/`: queues the test email (superuser); a 503 saying so
 * when email is off.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { renderEmail } from "../emails/render.ts";
import { sendEmail } from "../jobs/send_email.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { HttpError } from "../lib/http_error.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { idempotent } from "../http/idempotency.ts";
import { BEARER, Email, HttpErrorBody, json, Message } from "./schemas.ts";

/** The utils routes that need auth (the health check lives in routes/health.ts). */
export function utilsRoutes(deps: AppDeps) {
  const { config } = deps;
  const router = newRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/utils/test-email",
      tags: ["utils"],
      operationId: "utils-test_email",
      summary: "Send a test email through the queue (superuser)",
      middleware: [currentUser(deps), superuserOnly(), idempotent(deps)],
      security: BEARER,
      request: { query: z.object({ email_to: Email }) },
      responses: {
        201: json(Message, "Queued for sending"),
        503: json(HttpErrorBody, "Email is off on this server"),
      },
    }),
    async (c) => {
      const { email_to } = c.req.valid("query");
      // "Sent" would be a lie: nothing leaves this server (the console says the same).
      if (!deps.mailer.enabled) {
        throw new HttpError(
          503,
          "Email is off on this server (EMAIL_TRANSPORT=off), so no test email was sent: set " +
            "SMTP_HOST and EMAILS_FROM_EMAIL, or EMAIL_TRANSPORT=file",
        );
      }
      await sendEmail.delay({
        to: email_to,
        ...renderEmail("test_email", { project_name: config.projectName, email: email_to }),
      });
      return c.json({ message: "Test email sent" }, 201);
    },
  );
  return router;
}
