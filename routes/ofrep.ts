/**
 * The OpenFeature Remote Evaluation Protocol (OFREP), so that any OpenFeature
 * SDK with an OFREP provider reads Tusk's flags: single evaluation
 * (`POST /ofrep/v1/evaluate/flags/{key}`), bulk evaluation with an ETag
 * (`POST /ofrep/v1/evaluate/flags`) and the configuration extension.
 *
 * Who may evaluate what:
 * - anyone: flags marked `client_visible`;
 * - a user's bearer token: the same flags, with the user's id as targeting
 *   key (unless the context names one) and the user's `user_id`, `email` and
 *   `is_superuser` in place of whatever the context claims;
 * - `FLAGS_SERVER_KEY` (bearer or `X-API-Key`), or a superuser's token: every flag.
 *
 * Answers and error codes are the protocol's, not the REST API's `detail`.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { currentUser } from "../http/current_user.ts";
import { type AppDeps, type AppEnv, newRouter } from "../http/router.ts";
import { HttpError } from "../lib/http_error.ts";
import { currentFlagCache } from "../services/flag_cache.ts";
import { type Evaluation, type Subject, userSubject } from "../services/flag_rules.ts";

// What a client should poll no faster than: a flag change reaches every process within a second.
const MIN_POLLING_INTERVAL_MS = 1000;

interface Caller {
  /** Every flag, or only those marked client_visible. */
  all: boolean;
  /** Attributes the server vouches for (a signed-in user's). */
  verified?: Subject;
}

/** One flag's answer: the protocol's body and the status a single evaluation gives it. */
type Answer = { status: 200 | 400 | 404; body: Record<string, unknown> };

function sameSecret(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `/ofrep/v1/*`. */
export function ofrepRoutes(deps: AppDeps) {
  const serverKey = deps.config.flags.serverKey;
  const bearer = currentUser(deps);
  const router = newRouter();

  async function caller(c: Context<AppEnv>): Promise<Caller> {
    const apiKey = c.req.header("X-API-Key");
    if (apiKey !== undefined) {
      if (serverKey !== undefined && sameSecret(apiKey, serverKey)) return { all: true };
      throw new HttpError(401, "Invalid API key");
    }
    const header = c.req.header("Authorization");
    if (header === undefined) return { all: false };
    const token = /^bearer\s+(.*)$/i.exec(header)?.[1]?.trim() ?? "";
    if (serverKey !== undefined && sameSecret(token, serverKey)) return { all: true };
    await bearer(c, () => Promise.resolve());
    const user = c.get("user");
    return { all: user.is_superuser, verified: userSubject(user) };
  }

  /** The request's context as a subject; a PARSE_ERROR failure when it is not one. */
  async function subjectOf(c: Context<AppEnv>, who: Caller): Promise<Subject | string> {
    const text = await c.req.text();
    let body: unknown = {};
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        return "The request body is not JSON";
      }
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return "The request body must be a JSON object";
    }
    const context = (body as { context?: unknown }).context ?? {};
    if (typeof context !== "object" || context === null || Array.isArray(context)) {
      return "context must be a JSON object";
    }
    const subject = { ...context } as Subject;
    if (who.verified === undefined) return subject;
    return {
      ...subject,
      ...who.verified,
      targetingKey: typeof subject.targetingKey === "string" && subject.targetingKey !== ""
        ? subject.targetingKey
        : who.verified.targetingKey,
    };
  }

  function visible(codename: string, who: Caller): boolean {
    const flag = currentFlagCache().definitions().get(codename);
    return flag !== undefined && (who.all || flag.client_visible);
  }

  /** One flag's answer (in a bulk answer, only its body counts). */
  function answer(key: string, subject: Subject, who: Caller): Answer {
    if (!visible(key, who)) {
      return {
        status: 404,
        body: { key, errorCode: "FLAG_NOT_FOUND", errorDetails: `Flag ${key} was not found` },
      };
    }
    const e: Evaluation = currentFlagCache().evaluate(key, subject);
    if (e.error === "TARGETING_KEY_MISSING") {
      return {
        status: 400,
        body: {
          key,
          errorCode: "TARGETING_KEY_MISSING",
          errorDetails: `Rule ${e.rule! + 1} of ${key} needs context.targetingKey`,
        },
      };
    }
    return {
      status: 200,
      body: {
        key,
        ...("value" in e ? { value: e.value } : {}),
        ...(e.variant === undefined ? {} : { variant: e.variant }),
        reason: e.reason,
        metadata: e.rule === undefined ? {} : { rule: e.rule + 1 },
      },
    };
  }

  router.post("/evaluate/flags/:key", async (c) => {
    const key = c.req.param("key");
    const who = await caller(c);
    const subject = await subjectOf(c, who);
    if (typeof subject === "string") {
      return c.json({ key, errorCode: "PARSE_ERROR", errorDetails: subject }, 400);
    }
    const { status, body } = answer(key, subject, who);
    return c.json(body, status);
  });

  router.post("/evaluate/flags", async (c) => {
    const who = await caller(c);
    const subject = await subjectOf(c, who);
    if (typeof subject === "string") {
      return c.json({ errorCode: "PARSE_ERROR", errorDetails: subject }, 400);
    }
    const keys = [...currentFlagCache().definitions().keys()].filter((k) => visible(k, who));
    const flags = keys.map((key) => answer(key, subject, who).body);
    const body = JSON.stringify({ flags });
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    c.header("ETag", etag);
    c.header("Cache-Control", "no-cache");
    const ifNoneMatch = c.req.header("If-None-Match");
    if (ifNoneMatch !== undefined && matches(ifNoneMatch, etag)) return c.body(null, 304);
    return c.body(body, 200, { "Content-Type": "application/json" });
  });

  router.get("/configuration", (c) =>
    c.json({
      name: "Tusk",
      capabilities: {
        cacheInvalidation: {
          polling: { enabled: true, minPollingIntervalMs: MIN_POLLING_INTERVAL_MS },
        },
        flagEvaluation: { supportedTypes: ["boolean", "string", "int", "float", "object"] },
      },
    }));

  return router;
}

/** Whether an If-None-Match header names `etag` (weak or strong, or `*`). */
function matches(header: string, etag: string): boolean {
  return header.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t === etag || t === `W/${etag}`;
  });
}
