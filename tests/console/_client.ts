/**
 * A cookie-keeping client for the console over `app.request()`: what a
 * browser without JavaScript does (GET pages, POST forms, follow nothing).
 *
 * @module
 */
import type { Hono } from "hono";

/** Drives `/admin` as one browser would. */
export interface ConsoleClient {
  /** Cookies held now, by name. */
  cookies: Map<string, string>;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** Posts a url-encoded form; `csrf: true` adds the session's token from the last page read. */
  post(
    path: string,
    fields: Record<string, string>,
    options?: { csrf?: boolean },
  ): Promise<Response>;
  /** GETs `path` and returns its HTML (asserting nothing). */
  html(path: string): Promise<string>;
  /** Logs in with the form; returns the answer to the POST. */
  login(email: string, password: string): Promise<Response>;
}

function hiddenValue(html: string, name: string): string | undefined {
  return html.match(new RegExp(`name="${name}" value="([^"]+)"`))?.[1];
}

/** A fresh client with no cookies, for the console mounted at `base`. */
export function consoleClient(
  app: { request: Hono["request"] },
  base = "/admin",
): ConsoleClient {
  const cookies = new Map<string, string>();
  let csrf: string | undefined;

  function keep(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/max-age=0/i.test(line) || value === "") cookies.delete(name);
      else cookies.set(name, value);
    }
    return res;
  }
  function cookieHeader(): Record<string, string> {
    if (cookies.size === 0) return {};
    return { Cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
  }

  const client: ConsoleClient = {
    cookies,
    async get(path, headers = {}) {
      return keep(await app.request(path, { headers: { ...cookieHeader(), ...headers } }));
    },
    async post(path, fields, options = {}) {
      const body = new URLSearchParams(fields);
      if (options.csrf !== false && csrf !== undefined && !("_csrf" in fields)) {
        body.set("_csrf", csrf);
      }
      return keep(
        await app.request(path, {
          method: "POST",
          headers: { ...cookieHeader(), "Content-Type": "application/x-www-form-urlencoded" },
          body,
        }),
      );
    },
    async html(path) {
      const res = await client.get(path);
      const text = await res.text();
      csrf = hiddenValue(text, "_csrf") ?? csrf;
      return text;
    },
    async login(email, password) {
      const form = await client.html(`${base}/login`);
      const token = hiddenValue(form, "_login");
      const res = await client.post(`${base}/login`, { _login: token ?? "", email, password }, {
        csrf: false,
      });
      if (res.status === 303) await client.html(base);
      return res;
    },
  };
  return client;
}
