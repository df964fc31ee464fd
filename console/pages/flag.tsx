/**
 * One feature flag: its rules, variants and visibility, edited by the flag
 * API's rules (`services/flags.ts`), with a preview ("is alice in?") and a
 * link to its audit history, where any change can be reverted.
 *
 * @module
 */
import { Hono } from "hono";
import { getFlag, lastEvaluations } from "../../db/feature_flags.ts";
import { getUserByEmail } from "../../db/users.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { AppDeps } from "../../http/router.ts";
import {
  describeRule,
  explainFlag,
  type Subject,
  userSubject,
  Variants,
} from "../../services/flag_rules.ts";
import { ruleFromText } from "../../services/flag_rule_text.ts";
import {
  addRule,
  changeFlag,
  definitionOf,
  isStale,
  removeRule,
  setRollout,
} from "../../services/flags.ts";
import { formFields, textParam } from "../params.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { setFlash } from "../session.ts";
import { Action, Confirm, Csrf, href, page, When } from "../ui.tsx";

function flagPath(c: ConsoleContext, codename: string, rest = ""): string {
  return href(c, `/flags/${encodeURIComponent(codename)}${rest}`);
}

/** Runs an edit; its refusal (a 4xx from the flag rules) becomes the page's error flash. */
async function edit(c: ConsoleContext, codename: string, work: () => Promise<string>) {
  try {
    setFlash(c, { kind: "ok", text: await work() });
  } catch (error) {
    if (!(error instanceof HttpError) || error.status >= 500 || error.status === 404) throw error;
    setFlash(c, { kind: "error", text: error.message });
  }
  return c.redirect(flagPath(c, codename), 303);
}

/** The preview's subject from the query: a stored user's, a key, and attributes as JSON. */
async function previewSubject(
  c: ConsoleContext,
  deps: AppDeps,
): Promise<{ subject: Subject; label: string } | undefined> {
  const email = textParam(c, "email");
  const key = textParam(c, "key");
  const attributes = textParam(c, "attributes", 4000);
  if (email === undefined && key === undefined && attributes === undefined) return undefined;
  let subject: Subject = {};
  if (attributes !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(attributes);
    } catch {
      throw new HttpError(400, 'Attributes must be a JSON object, e.g. {"plan": "pro"}');
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new HttpError(400, 'Attributes must be a JSON object, e.g. {"plan": "pro"}');
    }
    subject = parsed as Subject;
  }
  if (email !== undefined) {
    const user = await getUserByEmail(deps.sql, email);
    if (user === undefined) throw new HttpError(400, `No user has the email ${email}`);
    subject = { ...subject, ...userSubject(user) };
  }
  if (key !== undefined) subject.targetingKey = key;
  return { subject, label: email ?? key ?? "these attributes" };
}

/** `/flags/:codename` and its edits. */
export function flagPage(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql, config } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/flags/:codename", async (c) => {
    const stored = await getFlag(sql, c.req.param("codename"));
    if (stored === undefined) throw new HttpError(404, "Feature flag not found");
    const flag = definitionOf(stored);
    const evaluated = (await lastEvaluations(sql, [flag.codename])).get(flag.codename);
    const preview = await previewSubject(c, deps);
    const explained = preview === undefined ? undefined : explainFlag(flag, preview.subject);
    const fallback = flag.default_variant ?? (flag.rules.length === 0 ? "on" : "off");
    return page(
      c,
      `Flag ${flag.codename}`,
      <div>
        <p>
          <a href={href(c, "/flags")}>All flags</a> ›{" "}
          <a
            href={href(
              c,
              `/history?table=feature_flags&row_id=${encodeURIComponent(flag.codename)}`,
            )}
          >
            History and revert
          </a>
        </p>
        <dl class="facts">
          <dt>State</dt>
          <dd>
            <span class={flag.is_active ? "state on" : "state off"}>
              {flag.is_active ? "on" : "off"}
            </span>{" "}
            {flag.is_active ? "(rules apply)" : "(switched off: every subject gets the default)"}
          </dd>
          <dt>Last evaluated</dt>
          <dd>
            <When at={evaluated} />
            {isStale(flag, evaluated, config.flags.staleDays) && (
              <span class="state stale">stale</span>
            )}
          </dd>
          <dt>OpenFeature clients</dt>
          <dd>
            {flag.client_visible ? "may read it without a key" : "need FLAGS_SERVER_KEY"}{" "}
            <Action
              c={c}
              action={flagPath(c, flag.codename, "/visible")}
              label={flag.client_visible ? "Hide from clients" : "Show to clients"}
              fields={{ client_visible: flag.client_visible ? "false" : "true" }}
            />
          </dd>
        </dl>

        <h2>Rules</h2>
        <p class="muted">In order; the first that matches decides.</p>
        <ol class="rules">
          {flag.rules.map((rule, i) => (
            <li>
              {describeRule(rule)}{" "}
              <Confirm
                c={c}
                action={flagPath(c, flag.codename, `/rules/${i + 1}/delete`)}
                label={`Remove rule ${i + 1}`}
                confirm={`Yes, remove rule ${i + 1}`}
                danger
              />
            </li>
          ))}
        </ol>
        <p>
          Anyone no rule matches gets <code>{fallback}</code>.
        </p>

        <h2>Add a rule</h2>
        <form method="post" action={flagPath(c, flag.codename, "/rules")} class="stacked">
          <Csrf c={c} />
          <label for="when">Conditions, one per line (all must hold; none: everyone)</label>
          <textarea id="when" name="when" rows={3} placeholder="email ends_with @example.com">
          </textarea>
          <label for="percentage">Percentage of subjects (optional, sticky per subject)</label>
          <input id="percentage" name="percentage" inputmode="decimal" />
          <label for="variant">Serve variant</label>
          <input id="variant" name="variant" placeholder={flag.variants ? "" : "on"} />
          <label for="split">…or split (variant:weight, adding up to 100)</label>
          <input id="split" name="split" placeholder="blue:50,green:50" />
          <label for="position">Position (optional; default last)</label>
          <input id="position" name="position" inputmode="numeric" />
          <label for="rule-description">Description (optional)</label>
          <input id="rule-description" name="description" maxlength={200} />
          <button type="submit">Add rule</button>
        </form>

        {flag.variants === null && (
          <form method="post" action={flagPath(c, flag.codename, "/rollout")} class="stacked">
            <h2>Roll out</h2>
            <Csrf c={c} />
            <label for="rollout">Percentage of subjects who get it</label>
            <input id="rollout" name="percentage" inputmode="decimal" required />
            <button type="submit">Set rollout</button>
          </form>
        )}

        <h2>Variants</h2>
        <form method="post" action={flagPath(c, flag.codename, "/variants")} class="stacked">
          <Csrf c={c} />
          <label for="variants">Variants as JSON (empty: a boolean flag, on and off)</label>
          <textarea id="variants" name="variants" rows={4}>
            {flag.variants === null ? "" : JSON.stringify(flag.variants, null, 2)}
          </textarea>
          <label for="default_variant">Default variant</label>
          <input id="default_variant" name="default_variant" value={flag.default_variant ?? ""} />
          <button type="submit">Save variants</button>
        </form>

        <h2>Preview</h2>
        <form method="get" action={flagPath(c, flag.codename)} class="stacked" role="search">
          <label for="email">A user's email</label>
          <input id="email" name="email" type="email" value={textParam(c, "email") ?? ""} />
          <label for="key">…or a targeting key</label>
          <input id="key" name="key" value={textParam(c, "key") ?? ""} />
          <label for="attributes">Attributes (JSON, optional)</label>
          <input id="attributes" name="attributes" value={textParam(c, "attributes", 4000) ?? ""} />
          <button type="submit">Is this subject in?</button>
        </form>
        {explained && preview && (
          <section aria-label="Preview result" id="preview">
            <p>
              <strong>{preview.label}</strong> gets{" "}
              <code>{explained.evaluation.variant ?? "nothing"}</code>
              {"value" in explained.evaluation &&
                (
                  <>
                    = <code>{JSON.stringify(explained.evaluation.value)}</code>
                  </>
                )} ({explained.evaluation.error ?? explained.evaluation.reason})
            </p>
            <ol>
              {explained.steps.map((s) => (
                <li key={s.rule} value={s.rule + 1}>{s.description}: {s.outcome}</li>
              ))}
            </ol>
          </section>
        )}
      </div>,
    );
  });

  router.post("/flags/:codename/rules", async (c) => {
    const codename = c.req.param("codename");
    const form = await formFields(c);
    const result = ruleFromText({ ...form, when: (form.when ?? "").split(/\r?\n/) });
    if ("problem" in result) {
      setFlash(c, { kind: "error", text: result.problem });
      return c.redirect(flagPath(c, codename), 303);
    }
    const position = form.position?.trim() ? Number(form.position) - 1 : undefined;
    return await edit(c, codename, async () => {
      const flag = await addRule(sql, codename, result.rule, position);
      return `Rule added; ${flag.codename} has ${flag.rules.length}.`;
    });
  });

  router.post("/flags/:codename/rules/:n/delete", async (c) => {
    const codename = c.req.param("codename");
    const n = Number(c.req.param("n"));
    return await edit(c, codename, async () => {
      await removeRule(sql, codename, n - 1);
      return `Rule ${n} removed.`;
    });
  });

  router.post("/flags/:codename/rollout", async (c) => {
    const codename = c.req.param("codename");
    const { percentage = "" } = await formFields(c);
    const value = Number(percentage.trim().replace(/%$/, ""));
    return await edit(c, codename, async () => {
      if (percentage.trim() === "" || !Number.isFinite(value)) {
        throw new HttpError(422, "A percentage is a number from 0 to 100");
      }
      await setRollout(sql, codename, value);
      return `${codename} rolls out to ${value} % of subjects.`;
    });
  });

  router.post("/flags/:codename/variants", async (c) => {
    const codename = c.req.param("codename");
    const form = await formFields(c);
    return await edit(c, codename, async () => {
      let variants: Record<string, unknown> | null = null;
      if (form.variants?.trim()) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(form.variants);
        } catch {
          throw new HttpError(422, 'Variants must be JSON, e.g. {"blue": "#00f"}');
        }
        const checked = Variants.safeParse(parsed);
        if (!checked.success) throw new HttpError(422, checked.error.issues[0]!.message);
        variants = checked.data;
      }
      await changeFlag(sql, codename, {
        variants,
        default_variant: form.default_variant?.trim() || null,
      });
      return `Variants of ${codename} saved.`;
    });
  });

  router.post("/flags/:codename/visible", async (c) => {
    const codename = c.req.param("codename");
    const { client_visible } = await formFields(c);
    if (client_visible !== "true" && client_visible !== "false") {
      throw new HttpError(400, "client_visible must be true or false");
    }
    return await edit(c, codename, async () => {
      const flag = await changeFlag(sql, codename, { client_visible: client_visible === "true" });
      return `${codename} is ${flag.client_visible ? "" : "no longer "}visible to clients.`;
    });
  });

  return router;
}
