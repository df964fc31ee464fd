/**
 * The email log over HTTP (superuser): what was sent, failed or skipped,
 * newest first, by recipient, status, template and time.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { listEmailLog } from "../db/email_log.ts";
import { currentUser, superuserOnly } from "../http/current_user.ts";
import { type AppDeps, newRouter } from "../http/router.ts";
import { BEARER, EmailLogPublic, Instant, json, Page, toEmailLogPublic } from "./schemas.ts";

const EmailLogQuery = Page.extend({
  to: z.string().max(255).optional()
    .openapi({ description: "The recipient's address, without regard to case" }),
  status: z.enum(["sent", "failed", "skipped"]).optional(),
  template: z.string().max(100).optional(),
  user_id: z.uuid().optional(),
  since: Instant.optional(),
  until: Instant.optional(),
});

/** `/emails/`. */
export function emailRoutes(deps: AppDeps) {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/emails",
      tags: ["emails"],
      operationId: "emails-read_email_log",
      summary: "The email log, newest first, with filters (superuser)",
      middleware: [currentUser(deps), superuserOnly()],
      security: BEARER,
      request: { query: EmailLogQuery },
      responses: { 200: json(EmailLogPublic, "A page of the email log") },
    }),
    async (c) => {
      const { skip, limit, ...filters } = c.req.valid("query");
      const page = await listEmailLog(deps.sql, filters, { skip, limit });
      return c.json(toEmailLogPublic(page), 200);
    },
  );
  return router;
}
