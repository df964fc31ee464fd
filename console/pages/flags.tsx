/**
 * Feature flags: list, create, turn on or off, delete. The flag API's rules
 * (`services/flags.ts`); every process sees a change at once (NOTIFY).
 *
 * @module
 */
import { Hono } from "hono";
import { lastEvaluations, listFlags } from "../../db/feature_flags.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { AppDeps } from "../../http/router.ts";
import { FlagCreate } from "../../routes/flags.ts";
import { addFlag, changeFlag, isStale, removeFlag } from "../../services/flags.ts";
import { firstProblem, formFields } from "../params.ts";
import type { ConsoleEnv } from "../context.ts";
import { setFlash } from "../session.ts";
import { Action, Confirm, Csrf, Head, href, page, When } from "../ui.tsx";

// Hints for the browser; the API's FlagCreate schema decides.
const LABEL_MAX = 255;
const DESCRIPTION_MAX = 2000;

/** `/flags` and the flag actions. */
export function flagPages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql, config } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/flags", async (c) => {
    const [flags, evaluated] = await Promise.all([listFlags(sql), lastEvaluations(sql)]);
    return page(
      c,
      "Flags",
      <div>
        {flags.length === 0 ? <p>No flags yet.</p> : (
          <table>
            <Head
              cols={[
                "Codename",
                "Label",
                "State",
                "Targeting",
                "Changed",
                "Last evaluated",
                "Actions",
              ]}
            />
            <tbody>
              {flags.map((f) => (
                <tr id={`flag-${f.codename}`}>
                  <th scope="row">
                    <a href={href(c, `/flags/${encodeURIComponent(f.codename)}`)}>
                      <code>{f.codename}</code>
                    </a>
                    {f.description && <div class="muted">{f.description}</div>}
                  </th>
                  <td>{f.label ?? ""}</td>
                  <td>
                    <span class={f.is_active ? "state on" : "state off"}>
                      {f.is_active ? "on" : "off"}
                    </span>
                  </td>
                  <td>
                    {f.rules.length === 0
                      ? (f.variants === null ? "everyone" : `default ${f.default_variant}`)
                      : `${f.rules.length} rule${f.rules.length === 1 ? "" : "s"}`}
                    {f.variants !== null && `, ${Object.keys(f.variants).length} variants`}
                    {f.client_visible && ", client-visible"}
                  </td>
                  <td>
                    <When at={f.updated_at} />
                  </td>
                  <td>
                    <When at={evaluated.get(f.codename)} />
                    {isStale(f, evaluated.get(f.codename), config.flags.staleDays) && (
                      <>
                        {" "}
                        <span class="state stale">stale</span>
                      </>
                    )}
                  </td>
                  <td class="actions">
                    <Action
                      c={c}
                      action={href(c, `/flags/${encodeURIComponent(f.codename)}`)}
                      label={f.is_active ? `Turn ${f.codename} off` : `Turn ${f.codename} on`}
                      fields={{ is_active: f.is_active ? "false" : "true" }}
                    />
                    <Confirm
                      c={c}
                      action={href(c, `/flags/${encodeURIComponent(f.codename)}/delete`)}
                      label="Delete"
                      confirm={`Yes, delete ${f.codename}`}
                      danger
                    >
                      Code that reads it will see it off.
                    </Confirm>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h2>New flag</h2>
        <form method="post" action={href(c, "/flags")} class="stacked">
          <Csrf c={c} />
          <label for="codename">Codename</label>
          <input
            id="codename"
            name="codename"
            required
            maxlength={100}
            pattern="[A-Za-z][A-Za-z0-9_.\-]*"
          />
          <label for="label">Label (optional)</label>
          <input id="label" name="label" maxlength={LABEL_MAX} />
          <label for="description">Description (optional)</label>
          <textarea id="description" name="description" maxlength={DESCRIPTION_MAX}></textarea>
          <label class="check">
            <input type="checkbox" name="is_active" value="true" /> On from the start
          </label>
          <button type="submit">Create flag</button>
        </form>
      </div>,
    );
  });

  router.post("/flags", async (c) => {
    const form = await formFields(c);
    const parsed = FlagCreate.safeParse({
      codename: form.codename?.trim() ?? "",
      label: form.label?.trim() || null,
      description: form.description?.trim() || null,
      is_active: form.is_active === "true",
    });
    if (!parsed.success) {
      const problem = firstProblem(parsed.error, {
        codename: (message) => `Codename: ${message}`,
        label: "The label is too long",
        description: "The description is too long",
      });
      setFlash(c, { kind: "error", text: problem });
      return c.redirect(href(c, "/flags"), 303);
    }
    try {
      const flag = await addFlag(sql, parsed.data);
      setFlash(c, {
        kind: "ok",
        text: `Flag ${flag.codename} created (${flag.is_active ? "on" : "off"}).`,
      });
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 409) throw e;
      setFlash(c, { kind: "error", text: e.message });
    }
    return c.redirect(href(c, "/flags"), 303);
  });

  router.post("/flags/:codename", async (c) => {
    const { is_active } = await formFields(c);
    if (is_active !== "true" && is_active !== "false") {
      throw new HttpError(400, "is_active must be true or false");
    }
    const flag = await changeFlag(sql, c.req.param("codename"), {
      is_active: is_active === "true",
    });
    setFlash(c, { kind: "ok", text: `${flag.codename} is ${flag.is_active ? "on" : "off"}.` });
    return c.redirect(href(c, "/flags"), 303);
  });

  router.post("/flags/:codename/delete", async (c) => {
    const codename = c.req.param("codename");
    await removeFlag(sql, codename);
    setFlash(c, { kind: "ok", text: `Flag ${codename} deleted.` });
    return c.redirect(href(c, "/flags"), 303);
  });

  return router;
}
