/**
 * The ops console at `/admin` (`CONSOLE_PATH`): server-rendered pages over the same modules
 * the REST API uses, for superusers with a session.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { errorAnswers } from "../http/errors.ts";
import type { AppDeps } from "../http/router.ts";
import { assetRoutes } from "./assets.ts";
import { errorPage } from "./pages/error.tsx";
import { analyticsPages } from "./pages/analytics.tsx";
import { changesPages } from "./pages/changes.tsx";
import { emailPages } from "./pages/emails.tsx";
import { flagPage } from "./pages/flag.tsx";
import { flagPages } from "./pages/flags.tsx";
import { historyPages } from "./pages/history.tsx";
import { jobPages } from "./pages/jobs.tsx";
import { loginPages } from "./pages/login.tsx";
import { migrationPages } from "./pages/migrations.tsx";
import { overviewPages } from "./pages/overview.tsx";
import { schedulePages } from "./pages/schedules.tsx";
import { userPages } from "./pages/users.tsx";
import type { ConsoleContext, ConsoleEnv } from "./context.ts";
import { consoleSettings, requireSession } from "./session.ts";

/**
 * The 404 for a path under the console's that no page answers: HTML,
 * for the app's `notFound` to use (a sub-app's own is never called).
 */
export function consoleNotFound(c: Context): Response | Promise<Response> {
  return errorPage(c as ConsoleContext, 404, "There is no such console page.");
}

/** Whether `path` is under the console mounted at `base`. */
export function isConsolePath(path: string, base: string): boolean {
  return path === base || path.startsWith(`${base}/`);
}

/**
 * The console's routes, to mount at `config.consolePath`. Errors render as
 * HTML pages with the API's statuses and messages.
 *
 * @example
 * ```ts
 * app.route(deps.config.consolePath, consoleRoutes(deps));
 * ```
 */
export function consoleRoutes(deps: AppDeps): Hono<ConsoleEnv> {
  const { config, log } = deps;
  const router = new Hono<ConsoleEnv>({ strict: false });
  const answer = errorAnswers(log);
  router.use(consoleSettings({
    secure: config.environment !== "local",
    projectName: config.projectName,
    base: config.consolePath,
  }));
  router.route("/", assetRoutes());
  router.route("/", loginPages(deps));

  const pages = new Hono<ConsoleEnv>({ strict: false });
  pages.use(requireSession(deps.sql, { idleMinutes: config.consoleIdleMinutes }));
  pages.route("/", overviewPages(deps));
  pages.route("/", jobPages(deps));
  pages.route("/", schedulePages(deps));
  pages.route("/", flagPages(deps));
  pages.route("/", flagPage(deps));
  pages.route("/", userPages(deps));
  pages.route("/", historyPages(deps));
  pages.route("/", changesPages(deps));
  pages.route("/", emailPages(deps));
  pages.route("/", analyticsPages(deps));
  pages.route("/", migrationPages(deps));
  router.route("/", pages);

  router.onError((error, c) => {
    const { status, body, headers } = answer(error, c);
    for (const [name, value] of Object.entries(headers ?? {})) c.header(name, value);
    const detail = typeof body.detail === "string" ? body.detail : "The request was not valid.";
    return errorPage(c, status, detail, body.request_id);
  });
  return router;
}
