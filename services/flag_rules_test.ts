import assert from "node:assert/strict";
import {
  bucketOf,
  definitionProblem,
  evaluateFlag,
  type FlagDefinition,
  Rule,
  Rules,
  userSubject,
  Variants,
} from "./flag_rules.ts";

function flag(
  over: Omit<Partial<FlagDefinition>, "rules"> & { rules?: unknown[] } = {},
): FlagDefinition {
  return {
    codename: "FF_TEST",
    is_active: true,
    variants: null,
    default_variant: null,
    ...over,
    rules: Rules.parse(over.rules ?? []),
  };
}

function share(codename: string, percentage: number, n: number): number {
  const f = flag({ codename, rules: [{ percentage, variant: "on" }] });
  let on = 0;
  for (let i = 0; i < n; i++) {
    if (evaluateFlag(f, { targetingKey: `user-${i}` }).value === true) on++;
  }
  return on / n;
}

Deno.test("a flag without rules is on when active and off when not, for everyone", () => {
  assert.deepEqual(evaluateFlag(flag()), { value: true, variant: "on", reason: "STATIC" });
  assert.deepEqual(evaluateFlag(flag({ is_active: false }), { targetingKey: "x" }), {
    value: false,
    variant: "off",
    reason: "DISABLED",
  });
});

Deno.test("rules go in order, the first match wins, and the default comes last", () => {
  const f = flag({
    rules: [
      {
        conditions: [{ attribute: "email", operator: "in", value: ["Alice@Example.com"] }],
        variant: "off",
      },
      {
        conditions: [{ attribute: "email", operator: "ends_with", value: "@example.com" }],
        variant: "on",
      },
      { conditions: [{ attribute: "is_superuser", operator: "eq", value: true }], variant: "on" },
    ],
  });
  // The rule's email was lowercased when parsed; userSubject() lowercases the subject's.
  const alice = userSubject({ id: "a", email: "ALICE@example.com", is_superuser: true });
  assert.deepEqual(evaluateFlag(f, alice), {
    value: false,
    variant: "off",
    reason: "TARGETING_MATCH",
    rule: 0,
  });
  assert.equal(evaluateFlag(f, { email: "bob@example.com" }).rule, 1);
  assert.equal(evaluateFlag(f, { email: "root@other.org", is_superuser: true }).rule, 2);
  assert.deepEqual(evaluateFlag(f, { email: "eve@other.org", is_superuser: false }), {
    value: false,
    variant: "off",
    reason: "DEFAULT",
  });
  // The kill switch overrides every rule.
  assert.equal(evaluateFlag({ ...f, is_active: false }, alice).reason, "DISABLED");
  // An explicit default replaces the implicit off.
  assert.equal(evaluateFlag({ ...f, default_variant: "on" }, {}).value, true);
});

Deno.test("every operator, and a missing attribute matches none of them", () => {
  const cases: [unknown, unknown, Record<string, unknown>, boolean][] = [
    ["eq", "gold", { plan: "gold" }, true],
    ["eq", 1, { plan: "1" }, false],
    ["neq", "gold", { plan: "free" }, true],
    ["neq", "gold", {}, false],
    ["in", ["a", 2, true], { plan: 2 }, true],
    ["in", ["a", 2, true], { plan: "2" }, false],
    ["not_in", ["a"], { plan: "b" }, true],
    ["not_in", ["a"], { plan: null }, false],
    ["starts_with", "go", { plan: "gold" }, true],
    ["starts_with", "go", { plan: 5 }, false],
    ["ends_with", "ld", { plan: "gold" }, true],
    ["contains", "ol", { plan: "gold" }, true],
    ["contains", "x", { plan: "gold" }, false],
    ["lt", 10, { plan: 9.5 }, true],
    ["lt", 10, { plan: "9" }, false],
    ["lte", 10, { plan: 10 }, true],
    ["gt", 10, { plan: 10 }, false],
    ["gte", 10, { plan: 10 }, true],
    ["exists", undefined, { plan: false }, true],
    ["exists", undefined, {}, false],
  ];
  for (const [operator, value, subject, expected] of cases) {
    const condition = value === undefined
      ? { attribute: "plan", operator }
      : { attribute: "plan", operator, value };
    const f = flag({ rules: [{ conditions: [condition], variant: "on" }] });
    assert.equal(
      evaluateFlag(f, subject).value,
      expected,
      `${operator} ${JSON.stringify(value)} on ${JSON.stringify(subject)}`,
    );
  }
});

Deno.test("30 % of 10,000 subjects are in, within 2 points; each flag buckets differently", () => {
  const a = share("FF_A", 30, 10_000);
  const b = share("FF_B", 30, 10_000);
  assert.ok(Math.abs(a - 0.3) < 0.02, `FF_A: ${a}`);
  assert.ok(Math.abs(b - 0.3) < 0.02, `FF_B: ${b}`);
  let same = 0;
  for (let i = 0; i < 1000; i++) {
    const key = `user-${i}`;
    if ((bucketOf("FF_A", key) < 3000) === (bucketOf("FF_B", key) < 3000)) same++;
  }
  // Independent flags agree on about 0.3² + 0.7² = 58 % of subjects, not on all of them.
  assert.ok(same < 700, `the two flags put ${same} of 1000 subjects on the same side`);
});

Deno.test("a subject in at 10 % stays in at 25 % and 50 %", () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `subject-${i}`);
  let previous = new Set<string>();
  for (const percentage of [10, 25, 50]) {
    const f = flag({ rules: [{ percentage, variant: "on" }] });
    const now = new Set(keys.filter((k) => evaluateFlag(f, { targetingKey: k }).value === true));
    for (const k of previous) assert.ok(now.has(k), `${k} dropped out at ${percentage} %`);
    assert.ok(now.size > previous.size);
    previous = now;
  }
  assert.equal(share("FF_ALL", 100, 500), 1);
  assert.equal(share("FF_NONE", 0, 500), 0);
});

Deno.test("a split serves variants by weight, stickily, with the variant's value", () => {
  const f = flag({
    variants: { blue: "#00f", green: "#0f0", red: { hex: "#f00" } },
    default_variant: "blue",
    rules: [{
      split: [
        { variant: "blue", weight: 50 },
        { variant: "green", weight: 30 },
        { variant: "red", weight: 20 },
      ],
    }],
  });
  const counts: Record<string, number> = { blue: 0, green: 0, red: 0 };
  for (let i = 0; i < 10_000; i++) {
    const e = evaluateFlag(f, { targetingKey: `u${i}` });
    counts[e.variant!]!++;
    assert.equal(e.reason, "SPLIT");
  }
  for (const [variant, weight] of [["blue", 0.5], ["green", 0.3], ["red", 0.2]] as const) {
    assert.ok(
      Math.abs(counts[variant]! / 10_000 - weight) < 0.02,
      `${variant}: ${counts[variant]}`,
    );
  }
  const once = evaluateFlag(f, { targetingKey: "u7" });
  assert.deepEqual(evaluateFlag(f, { targetingKey: "u7" }), once);
  assert.deepEqual(evaluateFlag(f, { targetingKey: "u1" }).value !== undefined, true);
  // Switched off, a variant flag serves its default variant.
  assert.deepEqual(evaluateFlag({ ...f, is_active: false }, { targetingKey: "u7" }), {
    value: "#00f",
    variant: "blue",
    reason: "DISABLED",
  });
});

Deno.test("a percentage or a split without a targeting key is an error, not a guess", () => {
  const f = flag({
    rules: [
      { conditions: [{ attribute: "beta", operator: "eq", value: true }], variant: "on" },
      { percentage: 50, variant: "on" },
    ],
  });
  assert.equal(evaluateFlag(f, { beta: true }).value, true);
  assert.deepEqual(evaluateFlag(f, {}), {
    reason: "ERROR",
    error: "TARGETING_KEY_MISSING",
    rule: 1,
  });
  assert.equal(evaluateFlag(f, { targetingKey: "" }).error, "TARGETING_KEY_MISSING");
});

Deno.test("bad rules and variants are refused with a message that says what to fix", () => {
  const problems: [unknown, RegExp][] = [
    [{ percentage: 130, variant: "on" }, /from 0 to 100/],
    [{ percentage: 12.345, variant: "on" }, /two decimals/],
    [
      { conditions: [{ attribute: "a", operator: "like", value: "x" }], variant: "on" },
      /Unknown operator/,
    ],
    [{ conditions: [{ attribute: "a", operator: "lt", value: "x" }], variant: "on" }, /number/],
    [{ split: [{ variant: "on", weight: 60 }, { variant: "off", weight: 30 }] }, /add up to 100/],
    [{ percentage: 10 }, /either a variant or a split/],
    [{ variant: "on", extra: 1 }, /extra/],
  ];
  for (const [rule, message] of problems) {
    const parsed = Rule.safeParse(rule);
    assert.equal(parsed.success, false, JSON.stringify(rule));
    const text = parsed.error!.issues.map((i) => i.message).join("; ");
    assert.match(text, message, JSON.stringify(rule));
  }
  assert.equal(Variants.safeParse({}).success, false);
  assert.match(
    definitionProblem({
      rules: Rules.parse([{ variant: "green" }]),
      variants: null,
      default_variant: null,
    })!,
    /Rule 1 serves "green", which is not a variant \(on, off\)/,
  );
  assert.match(
    definitionProblem({ rules: [], variants: { a: 1 }, default_variant: null })!,
    /needs a default_variant/,
  );
  assert.equal(
    definitionProblem({ rules: [], variants: { a: 1 }, default_variant: "a" }),
    undefined,
  );
});
