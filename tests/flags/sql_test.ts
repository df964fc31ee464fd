import assert from "node:assert/strict";
import { createFlag, getFlag } from "../../db/feature_flags.ts";
import { evaluateFlag, Rules, type Subject } from "../../services/flag_rules.ts";
import { definitionOf } from "../../services/flags.ts";
import { migratedDatabase } from "../_db.ts";
import { type Random, seeded } from "../_random.ts";

const PLANS = ["free", "pro", "gold", "Gold", "enterprise"];
const DOMAINS = ["@example.com", "@tusk.dev", "@other.org"];

function randomSubject(r: Random, i: number): Subject {
  const subject: Subject = {};
  if (r.next() < 0.9) subject.targetingKey = r.next() < 0.02 ? "" : `user-${i}`;
  if (r.next() < 0.8) subject.email = `u${i}${r.pick(DOMAINS)}`;
  if (r.next() < 0.7) subject.plan = r.pick(PLANS);
  if (r.next() < 0.7) subject.age = Math.floor(r.next() * 80) + (r.next() < 0.3 ? 0.5 : 0);
  if (r.next() < 0.5) subject.is_superuser = r.next() < 0.2;
  if (r.next() < 0.1) subject.plan = null;
  if (r.next() < 0.05) subject.plan = 3;
  return subject;
}

function randomCondition(r: Random) {
  return r.pick([
    () => ({ attribute: "plan", operator: r.pick(["eq", "neq"]), value: r.pick(PLANS) }),
    () => ({ attribute: "plan", operator: r.pick(["in", "not_in"]), value: [r.pick(PLANS), 3] }),
    () => ({ attribute: "email", operator: "ends_with", value: r.pick(DOMAINS) }),
    () => ({ attribute: "email", operator: r.pick(["starts_with", "contains"]), value: "u1" }),
    () => ({
      attribute: "age",
      operator: r.pick(["lt", "lte", "gt", "gte"]),
      value: Math.floor(r.next() * 80),
    }),
    () => ({ attribute: "is_superuser", operator: "eq", value: true }),
    () => ({ attribute: r.pick(["plan", "age", "targetingKey"]), operator: "exists" }),
  ])();
}

function randomRules(r: Random, variants: string[]) {
  return Array.from({ length: 1 + Math.floor(r.next() * 4) }, () => {
    const conditions = Array.from({ length: Math.floor(r.next() * 3) }, () => randomCondition(r));
    const percentage = r.next() < 0.5 ? Math.round(r.next() * 10000) / 100 : undefined;
    const serve = r.next() < 0.3 && variants.length >= 2
      ? { split: [{ variant: variants[0], weight: 35 }, { variant: variants[1], weight: 65 }] }
      : { variant: r.pick(variants) };
    return { conditions, ...(percentage === undefined ? {} : { percentage }), ...serve };
  });
}

Deno.test("tusk.flag_evaluate() in SQL and evaluateFlag() agree on 10,000 random subjects", async () => {
  await using db = await migratedDatabase();
  const r = seeded(20261206);
  const codenames: string[] = [];
  for (let f = 0; f < 20; f++) {
    const withVariants = f % 2 === 1;
    const variants = withVariants ? { a: "alpha", b: 2, c: { deep: [1, true] } } : null;
    const names = withVariants ? ["a", "b", "c"] : ["on", "off"];
    const codename = `FF_RANDOM_${f}`;
    await createFlag(db.sql, {
      codename,
      is_active: f !== 4 && f !== 5,
      rules: Rules.parse(randomRules(r, names)),
      variants,
      default_variant: withVariants ? "a" : f % 4 === 0 ? "on" : null,
    });
    codenames.push(codename);
  }
  const flags = await Promise.all(
    codenames.map(async (c) => definitionOf((await getFlag(db.sql, c))!)),
  );
  const subjects = Array.from({ length: 10_000 }, (_, i) => randomSubject(r, i));
  const cases = subjects.map((subject, i) => ({ i, flag: flags[i % flags.length]!, subject }));

  // subject_key: null (taken from the attributes) for half, passed on its own for the rest.
  const rows = await db.sql<{ i: number; result: Record<string, unknown> }[]>`
    select c.i, tusk.flag_evaluate(
      c.codename,
      case when c.i % 2 = 0 then null else c.attributes ->> 'targetingKey' end,
      c.attributes
    ) as result
    from jsonb_to_recordset(${
    db.sql.json(
      cases.map((c) => ({ i: c.i, codename: c.flag.codename, attributes: c.subject })) as never,
    )
  }) as c(i int, codename text, attributes jsonb)
    order by c.i`;
  assert.equal(rows.length, cases.length);
  const reasons = new Map<string, number>();
  for (const row of rows) {
    const { flag, subject } = cases[row.i]!;
    const expected = evaluateFlag(flag, subject);
    assert.deepEqual(
      row.result,
      JSON.parse(JSON.stringify(expected)),
      `${flag.codename} for ${JSON.stringify(subject)}: rules ${JSON.stringify(flag.rules)}`,
    );
    reasons.set(expected.reason, (reasons.get(expected.reason) ?? 0) + 1);
  }
  // The random cases reach every kind of answer, so agreement means something.
  for (const reason of ["TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "ERROR"]) {
    assert.ok((reasons.get(reason) ?? 0) > 20, `${reason}: ${reasons.get(reason)}`);
  }

  const [unknown] = await db.sql`select tusk.flag_evaluate('FF_NOPE') as result`;
  assert.deepEqual(unknown!.result, { reason: "ERROR", error: "FLAG_NOT_FOUND" });
});

Deno.test("tusk.flag_enabled, flag_variant and flag_value answer in plain SQL", async () => {
  await using db = await migratedDatabase();
  await createFlag(db.sql, {
    codename: "FF_STAFF",
    is_active: true,
    rules: Rules.parse([{
      conditions: [{ attribute: "email", operator: "ends_with", value: "@example.com" }],
      variant: "on",
    }]),
  });
  await createFlag(db.sql, {
    codename: "checkout-color",
    is_active: true,
    variants: { blue: "#00f", green: "#0f0" },
    default_variant: "blue",
    rules: Rules.parse([{
      conditions: [{ attribute: "plan", operator: "eq", value: "pro" }],
      variant: "green",
    }]),
  });
  const [row] = await db.sql`
    select tusk.flag_enabled('FF_STAFF', 'u1', '{"email": "a@example.com"}') as staff,
           tusk.flag_enabled('FF_STAFF', 'u2', '{"email": "a@other.org"}') as other,
           tusk.flag_enabled('FF_ENABLE_REGISTRATION') as registration,
           tusk.flag_enabled('FF_MISSING') as missing,
           tusk.flag_variant('checkout-color', 'u3', '{"plan": "pro"}') as variant,
           tusk.flag_value('checkout-color', 'u3', '{"plan": "free"}') as value`;
  assert.deepEqual({ ...row }, {
    staff: true,
    other: false,
    registration: false,
    missing: false,
    variant: "green",
    value: "#00f",
  });
});
