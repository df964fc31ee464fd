import assert from "node:assert/strict";
import { testApp } from "../_app.ts";
import { migratedDatabase } from "../_db.ts";
import { makeUser } from "../_factories.ts";
import { consoleClient } from "./_client.ts";

async function setup() {
  const db = await migratedDatabase();
  const { app } = await testApp(db);
  const admin = await makeUser(db.sql, { superuser: true });
  const client = consoleClient(app);
  await client.login(admin.email, admin.password);
  await client.post("/admin/flags", { codename: "FF_STAFF", is_active: "true" });
  return { db, app, client };
}

async function rules(db: Awaited<ReturnType<typeof setup>>["db"]) {
  const [row] = await db.sql`select rules from feature_flags where codename = 'FF_STAFF'`;
  return row!.rules;
}

Deno.test("the flag page adds, previews, rolls out and removes rules by the API's rules", async () => {
  const { db, client } = await setup();
  await using _ = db;
  await makeUser(db.sql, { email: "ann@example.com" });
  assert.match(await client.html("/admin/flags"), /href="\/admin\/flags\/FF_STAFF"/);
  const first = await client.html("/admin/flags/FF_STAFF");
  assert.match(first, /Anyone no rule matches gets <code>on<\/code>/);

  await client.post("/admin/flags/FF_STAFF/rules", {
    when: "email ends_with @example.com\r\nis_superuser eq false",
    variant: "on",
    description: "staff",
  });
  let html = await client.html("/admin/flags/FF_STAFF");
  assert.match(html, /Rule added; FF_STAFF has 1/);
  assert.match(
    html,
    /staff: email ends_with &quot;@example.com&quot; and is_superuser eq false → on/,
  );
  assert.match(html, /Anyone no rule matches gets <code>off<\/code>/);

  const preview = await client.html("/admin/flags/FF_STAFF?email=ann%40example.com");
  assert.match(
    preview,
    /<strong>ann@example.com<\/strong> gets <code>on<\/code>= <code>true<\/code> \(TARGETING_MATCH\)/,
  );
  const outsider = await client.html(
    "/admin/flags/FF_STAFF?attributes=" + encodeURIComponent('{"email": "eve@other.org"}'),
  );
  assert.match(outsider, /gets <code>off<\/code>= <code>false<\/code> \(DEFAULT\)/);
  assert.match(outsider, /: no match<\/li>/);
  assert.equal(
    (await client.get("/admin/flags/FF_STAFF?attributes=%5B1%5D")).status,
    400,
    "attributes that are not an object are a 400 page",
  );

  // A bad rule: the page says why, and nothing is stored.
  await client.post("/admin/flags/FF_STAFF/rules", { when: "plan like gold", variant: "on" });
  assert.match(await client.html("/admin/flags/FF_STAFF"), /Unknown operator/);
  await client.post("/admin/flags/FF_STAFF/rules", { percentage: "130", variant: "on" });
  assert.match(await client.html("/admin/flags/FF_STAFF"), /from 0 to 100/);
  await client.post("/admin/flags/FF_STAFF/rollout", { percentage: "lots" });
  assert.match(await client.html("/admin/flags/FF_STAFF"), /A percentage is a number/);
  assert.equal((await rules(db)).length, 1);

  await client.post("/admin/flags/FF_STAFF/rollout", { percentage: "20" });
  html = await client.html("/admin/flags/FF_STAFF");
  assert.match(html, /rolls out to 20 % of subjects/);
  assert.match(html, /rollout: 20 % of subjects → on/);
  assert.equal((await rules(db)).length, 2);

  await client.post("/admin/flags/FF_STAFF/rules/1/delete", {});
  assert.deepEqual(await rules(db), [{ description: "rollout", variant: "on", percentage: 20 }]);
  await client.post("/admin/flags/FF_STAFF/rules/7/delete", {});
  assert.match(await client.html("/admin/flags/FF_STAFF"), /FF_STAFF has rules 1 to 1/);

  // Every change is in the flag's audit history.
  const [history] = await db.sql`select count(*)::int as n from tusk_history.events
    where table_name = 'feature_flags' and row_id = 'FF_STAFF'`;
  assert.ok(history!.n >= 4, `history events: ${history!.n}`);
});

Deno.test("the flag page saves variants and client visibility, refusing what does not fit", async () => {
  const { db, client } = await setup();
  await using _ = db;
  await client.post("/admin/flags/FF_STAFF/variants", {
    variants: '{"blue": "#00f", "green": {"hex": "#0f0"}}',
    default_variant: "purple",
  });
  assert.match(
    await client.html("/admin/flags/FF_STAFF"),
    /default_variant &quot;purple&quot; is not a variant \(blue, green\)/,
  );
  await client.post("/admin/flags/FF_STAFF/variants", { variants: "{nope", default_variant: "" });
  assert.match(await client.html("/admin/flags/FF_STAFF"), /Variants must be JSON/);
  await client.post("/admin/flags/FF_STAFF/variants", {
    variants: '{"blue": "#00f", "green": {"hex": "#0f0"}}',
    default_variant: "green",
  });
  assert.match(await client.html("/admin/flags/FF_STAFF"), /Variants of FF_STAFF saved/);
  await client.post("/admin/flags/FF_STAFF/visible", { client_visible: "true" });
  assert.match(await client.html("/admin/flags/FF_STAFF"), /FF_STAFF is visible to clients/);
  const [row] = await db.sql`select variants, default_variant, client_visible from feature_flags
    where codename = 'FF_STAFF'`;
  assert.deepEqual({ ...row }, {
    variants: { blue: "#00f", green: { hex: "#0f0" } },
    default_variant: "green",
    client_visible: true,
  });
  assert.equal((await client.get("/admin/flags/FF_NOPE")).status, 404);
});
