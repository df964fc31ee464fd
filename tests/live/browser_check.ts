/**
 * Live events in a real browser: Debian's Chromium (playwright-core) follows
 * the stream with `lib/live_events.ts` (as served to the console), sees an
 * item created through the API, then goes offline while five more are
 * created and, back online, receives exactly those five, in order, once.
 * The console's "Live changes" page shows a change as it commits.
 *
 * Run with `deno task test:browser` (beside the console's check).
 */
import assert from "node:assert/strict";
import { type Browser, chromium } from "playwright-core";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { bearer, call, jsonBody, login, makeUser } from "../_factories.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../_chromium.ts";
import { assetUrl } from "../../console/assets.ts";

/**
 * A TCP proxy in front of the server that can drop the network: `cut()`
 * closes every connection and refuses new ones until `restore()`. (Chromium's
 * own offline emulation leaves an open EventSource connection alone.)
 */
function cuttableProxy(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let up = true;
  const accepting = (async () => {
    for await (const client of listener) {
      if (!up) {
        client.close();
        continue;
      }
      const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
      open.add(client).add(server);
      const done = () => {
        for (const c of [client, server]) {
          open.delete(c);
          try {
            c.close();
          } catch { /* already closed */ }
        }
      };
      client.readable.pipeTo(server.writable).catch(() => {}).finally(done);
      server.readable.pipeTo(client.writable).catch(() => {}).finally(done);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut() {
      up = false;
      for (const c of [...open]) {
        open.delete(c);
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
    restore() {
      up = true;
    },
    async close() {
      this.cut();
      listener.close();
      await accepting;
    },
  };
}

/** What the test page records, on its window. */
interface Recorded {
  got: { id: string; type: string; row: string }[];
  statuses: string[];
}

// The page a frontend would be: it imports the helper and records what it gets.
function testPage(helper: string) {
  return `<!doctype html><html lang="en"><head><title>live</title></head><body>
<script type="module">
import { followEvents, bearerTicket } from "${helper}";
window.got = [];
window.statuses = [];
followEvents({
  getTicket: bearerTicket("/api/v1", () => window.TOKEN),
  query: { tables: "items" },
  retryMs: 200,
  onEvent: (e) => window.got.push({ id: e.id, type: e.type, row: e.data.row_id }),
  onStatus: (s) => window.statuses.push(s),
});
</script></body></html>`;
}

Deno.test({
  name: "a browser follows live events and, after going offline, gets exactly what it missed",
  // Playwright keeps its pipes to the browser in handles Deno cannot see closing.
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await using db = await migratedDatabase();
  const { app } = await testApp(db);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  db.defer(() => server.shutdown());
  const base = `http://127.0.0.1:${server.addr.port}`;
  const alice = await makeUser(db.sql);
  const admin = await makeUser(db.sql, { superuser: true, email: "live-ops@example.com" });
  const token = await login(app, alice.email, alice.password);
  const headers = bearer(token);
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  db.defer(() => browser.close());

  async function create(title: string) {
    const made = await call(app, "/api/v1/items/", jsonBody("POST", { title }, headers));
    assert.equal(made.status, 200);
    return made.body.id as string;
  }

  await t.step("an EventSource page: live within a second, then offline and back", async () => {
    const proxy = cuttableProxy(server.addr.port);
    db.defer(() => proxy.close());
    const via = `http://127.0.0.1:${proxy.port}`;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(`window.TOKEN = ${JSON.stringify(token)};`);
    await page.route(`${via}/live-test`, (route) =>
      route.fulfill({
        contentType: "text/html",
        body: testPage(assetUrl("/admin", "live_events.js")),
      }));
    await page.goto(`${via}/live-test`);
    await page.waitForFunction(() => (globalThis as unknown as Recorded).statuses.includes("open"));
    const first = await create("first");
    await page.waitForFunction(
      () => (globalThis as unknown as Recorded).got.length === 1,
      undefined,
      { timeout: 1000 },
    );

    proxy.cut();
    await context.setOffline(true);
    await page.waitForFunction(() =>
      (globalThis as unknown as Recorded).statuses.at(-1) !== "open"
    );
    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await create(`while offline ${i}`));
    proxy.restore();
    await context.setOffline(false);
    await page.waitForFunction(
      () => (globalThis as unknown as Recorded).got.length >= 6,
      undefined,
      {
        timeout: 10_000,
      },
    );
    // Anything duplicated would arrive right behind.
    await new Promise((r) => setTimeout(r, 500));
    const got = await page.evaluate(() => (globalThis as unknown as Recorded).got) as {
      row: string;
    }[];
    assert.deepEqual(got.map((e) => e.row), [first, ...missed]);
    const statuses = await page.evaluate(() =>
      (globalThis as unknown as Recorded).statuses
    ) as string[];
    assert.ok(statuses.includes("reconnecting"), statuses.join(" "));
    await context.close();
  });

  await t.step("the console's Live changes page shows a change as it commits", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const csp: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
    await page.goto(`${base}/admin/login`);
    await page.fill("#email", admin.email);
    await page.fill("#password", admin.password);
    await page.click("button[type=submit]");
    await page.goto(`${base}/admin/changes`);
    await page.waitForSelector("[data-live-status=open]");
    const id = await create("seen by the console");
    await page.waitForSelector(`tbody tr:first-child a:text("${id}")`, { timeout: 2000 });
    assert.deepEqual(csp, [], "the page runs under the console's CSP");
    await context.close();
  });
});
