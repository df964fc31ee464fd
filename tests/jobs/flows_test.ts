import assert from "node:assert/strict";
import { JobPayloadError } from "../../jobs/client.ts";
import { flow, FlowError } from "../../jobs/flows.ts";
import { bearer, call, login, makeUser } from "../_factories.ts";
import { startTusk, waitFor } from "../process.ts";
import { TEST_SECRET } from "../_app.ts";
import { recordOrFail } from "../fixtures/test_jobs.ts";
import { jobsDatabase, runs, stop, workers } from "./_workers.ts";

const step = (ref: string, data: Record<string, unknown>, after?: string[]) => ({
  ref,
  job: recordOrFail,
  data: { key: ref, ...data },
  ...(after ? { after } : {}),
});

async function states(db: { sql: import("../../db/client.ts").Sql }, ids: Record<string, string>) {
  const rows = await db.sql<{ id: string; state: string; output: { message?: string } | null }[]>`
    select id, state::text, output from pgboss.job where id = any(${Object.values(ids)}::uuid[])`;
  return Object.fromEntries(
    Object.entries(ids).map(([ref, id]) => [ref, rows.find((r) => r.id === id)]),
  );
}

Deno.test("a flow runs each job only after the jobs it comes after completed, across two workers", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  const procs = await workers(db, 2);
  const ids = await flow([
    step("a", { ms: 300 }),
    step("b", { ms: 700 }),
    step("c", { ms: 50 }, ["a", "b"]),
    step("d", {}, ["c"]),
    step("e", {}, ["a"]),
  ]);
  assert.deepEqual(Object.keys(ids).sort(), ["a", "b", "c", "d", "e"]);
  await waitFor(async () => (await runs(db)).length === 5, 30_000);
  const run = Object.fromEntries((await runs(db)).map((r) => [r.key, r]));
  const after = (child: string, parent: string) =>
    assert.ok(
      run[child]!.started_at >= run[parent]!.finished_at,
      `${child} started ${run[child]!.started_at.toISOString()}, before ${parent} finished ${
        run[parent]!.finished_at.toISOString()
      }`,
    );
  after("c", "a");
  after("c", "b");
  after("d", "c");
  after("e", "a");
  await stop(procs);
});

Deno.test("a failed parent cancels every job waiting on it; the API shows parents and children", async () => {
  const { db, app } = await jobsDatabase({ work: true });
  await using _ = db;
  const ids = await flow([
    step("x", { fail: true }),
    step("y", {}),
    step("z", {}, ["x", "y"]),
    step("w", {}, ["z"]),
    step("v", {}, ["y"]),
  ]);
  await waitFor(async () => {
    const s = await states(db, ids);
    return s.w?.state === "cancelled" && s.v?.state === "completed";
  }, 30_000);
  const s = await states(db, ids);
  assert.equal(s.x!.state, "failed");
  assert.equal(s.y!.state, "completed");
  for (const ref of ["z", "w"]) {
    assert.equal(s[ref]!.state, "cancelled");
    assert.equal(s[ref]!.output?.message, "not run: a job it depends on failed or was cancelled");
  }
  assert.deepEqual((await runs(db)).map((r) => r.key).sort(), ["v", "x", "y"]);

  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const z = (await call(app, `/api/v1/jobs/${ids.z}/status`, { headers: adminH })).body;
  assert.deepEqual(
    z.parents.map((p: { id: string; state: string }) => [p.id, p.state]).sort(),
    [[ids.x, "failed"], [ids.y, "completed"]].sort(),
  );
  assert.deepEqual(z.children, [{ id: ids.w, name: "test-record-or-fail", state: "cancelled" }]);
  assert.equal(z.batch, null);
});

Deno.test("a cancelled parent cancels its flow's waiting jobs too", async () => {
  const { db, app } = await jobsDatabase();
  await using _ = db;
  // No worker: the parent waits until it is cancelled from the API.
  const ids = await flow([step("p", {}), step("q", {}, ["p"])]);
  const admin = await makeUser(db.sql, { superuser: true });
  const adminH = bearer(await login(app, admin.email, admin.password));
  const res = await call(app, `/api/v1/jobs/${ids.p}/cancel`, { method: "POST", headers: adminH });
  assert.equal(res.status, 200);
  assert.equal((await states(db, ids)).q!.state, "cancelled");

  // The CLI shows the same job, and says what to fix for a bad or unknown id.
  const tusk = async (...args: string[]) => {
    await using proc = startTusk(["jobs", ...args], {
      DATABASE_URL: db.url,
      SECRET_KEY: TEST_SECRET,
    });
    return { code: (await proc.status).code, out: proc.output() };
  };
  const shown = await tusk("show", ids.q!);
  assert.equal(shown.code, 0, shown.out);
  const job = JSON.parse(shown.out);
  assert.deepEqual([job.queue, job.state], [recordOrFail.name, "cancelled"]);
  assert.deepEqual(job.parents, [{ id: ids.p, name: recordOrFail.name, state: "cancelled" }]);
  const bad = await tusk("show", "nope");
  assert.deepEqual([bad.code, bad.out.trim()], [1, "tusk jobs: nope is not a job id (a UUID)"]);
  const unknown = await tusk("show", crypto.randomUUID());
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /no job has the id/);
});

Deno.test("a flow is checked before anything is sent, and sent in a transaction or not at all", async () => {
  const { db } = await jobsDatabase();
  await using _ = db;
  await assert.rejects(
    () => flow([step("a", {}), step("b", {}, ["nope"])]),
    (e) => e instanceof FlowError && /dependsOn ref "nope" not found in flow/.test(e.message),
  );
  await assert.rejects(
    () => flow([step("a", {}, ["b"]), step("b", {}, ["a"])]),
    FlowError,
  );
  await assert.rejects(
    () => flow([step("a", {}), { ref: "b", job: recordOrFail, data: { ms: -1 }, after: ["a"] }]),
    JobPayloadError,
  );
  await db.sql.begin(async (tx) => {
    await flow([step("a", {}), step("b", {}, ["a"])], { tx });
    throw new Error("roll back");
  }).catch(() => {});
  const [row] = await db.sql`select count(*)::int as n from pgboss.job
    where name = ${recordOrFail.name}`;
  assert.equal(row!.n, 0);
  await db.sql.begin((tx) => flow([step("a", {}), step("b", {}, ["a"])], { tx }));
  const [after] = await db.sql`select count(*)::int as n from pgboss.job
    where name = ${recordOrFail.name}`;
  assert.equal(after!.n, 2);
});
