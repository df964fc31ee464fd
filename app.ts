/**
 * `createApp(deps)`: the Hono app shared by `main.ts` and the tests.
 *
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { methodNotAllowed } from "hono/method-not-allowed";
import { errorHandler, methodNotAllowedResponse, notFound } from "./http/errors.ts";
import { HttpError } from "./lib/http_error.ts";
import { type AppDeps, type AppEnv, newRouter } from "./http/router.ts";
import { bodyLimit } from "./http/body_limit.ts";
import { edge, REQUEST_ID_HEADER } from "./http/edge.ts";
import { frontend } from "./http/frontend.ts";
import { historyContext, traceRoute } from "./http/middleware.ts";
import { REPLAYED_HEADER } from "./http/idempotency.ts";
import { noteWrites } from "./http/reads.ts";
import { consoleNotFound, consoleRoutes, isConsolePath } from "./console/mod.ts";
import { analyticsRoutes } from "./routes/analytics.ts";
import { docsRoutes, OPENAPI_PATH, withIdempotencyKeys } from "./routes/docs.ts";
import { flagRoutes } from "./routes/flags.ts";
import { healthRoutes } from "./routes/health.ts";
import { emailRoutes } from "./routes/emails.ts";
import { eventRoutes } from "./routes/events.ts";
import { historyRoutes } from "./routes/history.ts";
import { itemRoutes } from "./routes/items.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { loginRoutes } from "./routes/login.ts";
import { ofrepRoutes } from "./routes/ofrep.ts";
import { privateRoutes } from "./routes/private.ts";
import { userRoutes } from "./routes/users.ts";
import { utilsRoutes } from "./routes/utils.ts";

/** The API version prefix, as in the FastAPI template. */
export const API_PREFIX = "/api/v1";

/**
 * Builds the application: middleware, routes, OpenAPI document, error shapes.
 * Connects to nothing itself; everything it uses comes in `deps`.
 *
 * @example
 * ```ts
 * const app = createApp({ config, sql, migrations, log, mailer, analytics });
 * const res = await app.request("/healthz");
 * ```
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { config, log } = deps;
  const app = newRouter();

  app.use(edge({
    corsOrigins: config.corsOrigins,
    // ETag: OFREP's bulk evaluation, read by browser SDKs on other origins.
    exposeHeaders: [REQUEST_ID_HEADER, REPLAYED_HEADER, "ETag"],
    strictTransportSecurity: config.environment === "local"
      ? false
      : "max-age=31536000; includeSubDomains",
    log,
  }));
  if (config.tracing) app.use(traceRoute());
  // The probes answer before the request-scoped middleware: they write nothing, and an
  // orchestrator calls them every few seconds (POST /healthz still gets its 405 below).
  const health = healthRoutes(deps);
  app.route("/", health.root);
  app.use(historyContext(deps.sql));
  if (deps.replicas !== undefined) app.use(noteWrites(deps));
  app.use(methodNotAllowed({ app, onMethodNotAllowed: methodNotAllowedResponse }));
  app.use(bodyLimit(config.maxBodyBytes, () => {
    throw new HttpError(413, `Request body is too large (limit ${config.maxBodyBytes} bytes)`);
  }));

  const api = newRouter();
  api.route("/", health.api);
  api.route("/", loginRoutes(deps));
  api.route("/", userRoutes(deps));
  api.route("/", itemRoutes(deps));
  api.route("/", utilsRoutes(deps));
  api.route("/", jobRoutes(deps));
  api.route("/", flagRoutes(deps));
  api.route("/", historyRoutes(deps));
  api.route("/", emailRoutes(deps));
  api.route("/", eventRoutes(deps));
  api.route("/", analyticsRoutes(deps));
  // Your resources (deno task new resource NAME adds them here).
  if (config.environment === "local") api.route("/", privateRoutes(deps));

  app.route(API_PREFIX, api);
  app.route("/ofrep/v1", ofrepRoutes(deps));
  app.route("/", docsRoutes(config.projectName));
  app.route(config.consolePath, consoleRoutes(deps));
  app.openAPIRegistry.registerComponent("securitySchemes", "OAuth2PasswordBearer", {
    type: "oauth2",
    flows: { password: { tokenUrl: `${API_PREFIX}/login/access-token`, scopes: {} } },
  });
  let document: unknown;
  app.get(OPENAPI_PATH, (c) => {
    document ??= withIdempotencyKeys(app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: config.projectName,
        version: "0.1.0",
        description: "Tusk: a Deno backend where PostgreSQL is the only infrastructure.",
      },
    }));
    return c.json(document);
  });

  // Last: only what no route answered reaches the frontend.
  if (deps.frontendRoot !== undefined) {
    app.use(frontend(deps.frontendRoot, { reserved: [config.consolePath] }));
  }
  app.notFound((c) =>
    isConsolePath(c.req.path, config.consolePath) ? consoleNotFound(c) : notFound(c)
  );
  app.onError(errorHandler(log));
  return app;
}
