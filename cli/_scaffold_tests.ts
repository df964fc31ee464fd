/**
 * The test template of `tusk new resource NAME`: `tests/routes/NAME_test.ts`.
 *
 * @module
 */
import type { Names } from "./_scaffold.ts";

/** `tests/routes/NAME_test.ts`. */
export function testModule(n: Names, withJob: boolean): string {
  const base = `/api/v1${n.path}`;
  const jobTest = withJob
    ? `
Deno.test("${n.table}: a new one queues ${n.job} with its id, in the same transaction", async () => {
  const { db, app, aliceH } = await appWithUsers();
  await using _ = db;
  const made = await call(app, "${base}/", jsonBody("POST", { title: "queued" }, aliceH));
  const jobs = await db.sql\`select data from pgboss.job where name = '${n.job}'\`;
  assert.deepEqual(jobs.map((j) => j.data), [{ id: made.body.id }]);
  await db.sql\`alter table ${n.table} add constraint refuse check (title <> 'refused') not valid\`;
  const refused = await call(app, "${base}/", jsonBody("POST", { title: "refused" }, aliceH));
  assert.equal(refused.status, 422);
  const after = await db.sql\`select count(*)::int as n from pgboss.job where name = '${n.job}'\`;
  assert.equal(after[0]!.n, 1, "a write that fails leaves no job");
});
`
    : "";
  return `import assert from "node:assert/strict";
import { appWithUsers } from "../_app.ts";
import { call, jsonBody } from "../_factories.ts";

const BASE = "${base}";

Deno.test("${n.table}: create, read, list, update and delete your own", async () => {
  const { db, app, aliceH, alice } = await appWithUsers();
  await using _ = db;
  const made = await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "First", body: "Hello" }, aliceH));
  assert.equal(made.status, 200, JSON.stringify(made.body));
  assert.equal(made.body.owner_id, alice.user.id);
  assert.equal(made.body.body, "Hello");
  const one = await call(app, \`\${BASE}/\${made.body.id}\`, { headers: aliceH });
  assert.deepEqual(one.body, made.body);
  await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "Second" }, aliceH));
  const page = await call(app, \`\${BASE}/\`, { headers: aliceH });
  assert.equal(page.body.count, 2);
  assert.deepEqual(page.body.data.map((r: { title: string }) => r.title), ["Second", "First"]);
  const changed = await call(
    app,
    \`\${BASE}/\${made.body.id}\`,
    jsonBody("PUT", { title: "Renamed" }, aliceH),
  );
  assert.equal(changed.status, 200);
  assert.equal(changed.body.title, "Renamed");
  assert.equal(changed.body.body, "Hello", "fields not sent stay");
  const gone = await call(app, \`\${BASE}/\${made.body.id}\`, { method: "DELETE", headers: aliceH });
  assert.deepEqual(gone, { status: 200, body: { message: "Deleted" } });
  assert.equal((await call(app, \`\${BASE}/\${made.body.id}\`, { headers: aliceH })).status, 404);
});

Deno.test("${n.table}: others' are 403, unknown ones 404, bad input 422, no token 401", async () => {
  const { db, app, aliceH, bobH, adminH } = await appWithUsers();
  await using _ = db;
  const made = await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "Alice's" }, aliceH));
  const url = \`\${BASE}/\${made.body.id}\`;
  for (const init of [{ headers: bobH }, { method: "DELETE", headers: bobH }, jsonBody("PUT", { title: "x" }, bobH)]) {
    const res = await call(app, url, init);
    assert.deepEqual(res, { status: 403, body: { detail: "Not enough permissions" } });
  }
  assert.equal((await call(app, \`\${BASE}/\`, { headers: bobH })).body.count, 0);
  assert.equal((await call(app, \`\${BASE}/\`, { headers: adminH })).body.count, 1, "superusers see all");
  assert.equal((await call(app, url, { headers: adminH })).status, 200);
  const unknown = await call(app, \`\${BASE}/\${crypto.randomUUID()}\`, { headers: aliceH });
  assert.equal(unknown.status, 404);
  assert.equal((await call(app, \`\${BASE}/not-a-uuid\`, { headers: aliceH })).status, 422);
  assert.equal((await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "" }, aliceH))).status, 422);
  const anonymous = await call(app, \`\${BASE}/\`);
  assert.deepEqual(anonymous, { status: 401, body: { detail: "Not authenticated" } });
});

Deno.test("${n.table}: every change is in audit history with the user and the route", async () => {
  const { db, app, aliceH, alice, adminH } = await appWithUsers();
  await using _ = db;
  const made = await call(app, \`\${BASE}/\`, jsonBody("POST", { title: "v1" }, aliceH));
  await call(app, \`\${BASE}/\${made.body.id}\`, jsonBody("PUT", { title: "v2" }, aliceH));
  const history = await call(app, \`/api/v1/history/?table=${n.table}&row_id=\${made.body.id}\`, {
    headers: adminH,
  });
  assert.equal(history.status, 200);
  const [update, insert] = history.body.data;
  assert.equal(insert.op, "insert");
  assert.deepEqual(update.diff, { title: ["v1", "v2"] });
  assert.equal(update.context.user_id, alice.user.id);
  assert.equal(update.context.route, \`\${BASE}/:id\`);
});

Deno.test("${n.table}: the routes are in the OpenAPI document", async () => {
  const { db, app } = await appWithUsers();
  await using _ = db;
  const doc = await (await app.request("/api/v1/openapi.json")).json();
  assert.deepEqual(Object.keys(doc.paths[BASE]).sort(), ["get", "post"]);
  assert.deepEqual(Object.keys(doc.paths[\`\${BASE}/{id}\`]).sort(), ["delete", "get", "put"]);
});
${jobTest}`;
}
