/**
 * OFREP in a real browser: a page on another origin, in Debian's Chromium
 * (playwright-core), reads Tusk's flags with the OpenFeature web SDK and its
 * OFREP provider: targeted, split and hidden flags, a context change, and a
 * flag switched off that the provider's polling picks up (with ETags, so an
 * unchanged poll is a 304).
 *
 * Run with `deno task test:browser`.
 */
import assert from "node:assert/strict";
import { type Browser, chromium } from "playwright-core";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../_chromium.ts";
import { buttonColor, NEW_CHECKOUT } from "../_flags.ts";
import { freePort } from "../process.ts";

const POLL_MS = 300;

async function bundle(): Promise<string> {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const entry = new URL("./_web_sdk.ts", import.meta.url).pathname;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", entry, "-o", out],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out);
  }
}

Deno.test({
  name: "the OpenFeature web SDK in Chromium reads flags over OFREP from another origin",
  // Playwright keeps its pipes to the browser in handles Deno cannot see closing.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await using db = await migratedDatabase();
  // The app's page is served from a second local server: another origin, so every call to
  // Tusk is a CORS request. (Both on loopback: Chromium refuses a page it cannot place on the
  // local network access to a local address.)
  const pagePort = freePort();
  const ORIGIN = `http://127.0.0.1:${pagePort}`;
  const { app, logs } = await testApp(db, { env: { BACKEND_CORS_ORIGINS: ORIGIN } });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  db.defer(() => server.shutdown());
  const base = `http://127.0.0.1:${server.addr.port}`;
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  for (
    const flag of [
      NEW_CHECKOUT,
      buttonColor([{ split: [{ variant: "blue", weight: 50 }, { variant: "green", weight: 50 }] }]),
      { codename: "ops-secret", is_active: true },
    ]
  ) {
    const made = await call(app, "/api/v1/flags/", jsonBody("POST", flag, adminH));
    assert.equal(made.status, 200, JSON.stringify(made.body));
  }

  const sdk = await bundle();
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  db.defer(() => browser.close());
  const pages = Deno.serve(
    { hostname: "127.0.0.1", port: pagePort, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/sdk.js"
        ? new Response(sdk, { headers: { "Content-Type": "text/javascript" } })
        : new Response(
          `<!doctype html><html lang="en"><head><title>app</title>
<script src="/sdk.js"></script></head><body></body></html>`,
          { headers: { "Content-Type": "text/html" } },
        ),
  );
  db.defer(() => pages.shutdown());
  const page = await browser.newPage();
  await page.goto(`${ORIGIN}/`);

  type Details = { value: unknown; variant?: string; reason?: string; errorCode?: string };
  const read = () =>
    page.evaluate(() => {
      const c = (globalThis as unknown as {
        OpenFeature: {
          getClient(): {
            getBooleanDetails(k: string, d: boolean): Details;
            getStringDetails(k: string, d: string): Details;
          };
        };
      }).OpenFeature.getClient();
      return {
        checkout: c.getBooleanDetails("new-checkout", false),
        color: c.getStringDetails("button-color", "none"),
        secret: c.getBooleanDetails("ops-secret", false),
      };
    });

  await page.evaluate(async ([baseUrl, pollInterval]) => {
    const g = globalThis as unknown as {
      OpenFeature: {
        setContext(c: unknown): Promise<void>;
        setProviderAndWait(p: unknown): Promise<void>;
      };
      OFREPWebProvider: new (o: unknown) => unknown;
    };
    await g.OpenFeature.setContext({ targetingKey: "user-7", email: "ann@example.com" });
    await g.OpenFeature.setProviderAndWait(
      new g.OFREPWebProvider({
        baseUrl,
        pollInterval,
        cacheMode: "disabled",
        changeDetection: "polling",
      }),
    );
  }, [base, POLL_MS] as const);

  const first = await read();
  assert.equal(first.checkout.value, true);
  assert.equal(first.checkout.reason, "TARGETING_MATCH");
  assert.ok(["#00f", "#0f0"].includes(first.color.value as string), JSON.stringify(first.color));
  assert.equal(first.color.reason, "SPLIT");
  assert.equal(first.secret.value, false);
  assert.equal(first.secret.errorCode, "FLAG_NOT_FOUND", "a flag not client_visible is not there");

  // Another user: the provider re-evaluates for the new context.
  await page.evaluate(() =>
    (globalThis as unknown as { OpenFeature: { setContext(c: unknown): Promise<void> } })
      .OpenFeature.setContext({ targetingKey: "user-8", email: "eve@other.org" })
  );
  const eve = await read();
  assert.equal(eve.checkout.value, false);
  assert.equal(eve.checkout.reason, "DEFAULT");

  // Switched off on the server: the next poll brings it; unchanged polls were 304s.
  await new Promise((r) => setTimeout(r, POLL_MS * 3));
  const off = await call(
    app,
    "/api/v1/flags/button-color",
    jsonBody("PATCH", { is_active: false }, adminH),
  );
  assert.equal(off.status, 200);
  const deadline = Date.now() + 5000;
  let color = (await read()).color;
  while (color.reason !== "DISABLED" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    color = (await read()).color;
  }
  assert.deepEqual({ value: color.value, reason: color.reason }, {
    value: "#00f",
    reason: "DISABLED",
  });
  const bulk = logs.filter((l) => l.path === "/ofrep/v1/evaluate/flags" && l.method === "POST");
  assert.ok(bulk.some((l) => l.status === 304), `statuses: ${bulk.map((l) => l.status)}`);
  assert.ok(bulk.every((l) => l.status === 200 || l.status === 304));
});
