/**
 * Emails: every template with a preview (sample values, rendered in a
 * sandboxed frame under a CSP of its own: inline styles, no script), and the
 * email log, filtered by recipient, status and template.
 *
 * @module
 */
import { Hono } from "hono";
import { type EmailStatus, listEmailLog } from "../../db/email_log.ts";
import { type EmailName, EMAILS } from "../../emails/catalog.ts";
import { emailTemplates, isEmailName, type RenderedEmail } from "../../emails/render.ts";
import type { AppDeps } from "../../http/router.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { pageParam, textParam } from "../params.ts";
import { Head, href, page, PAGE_SIZE, Pager, When } from "../ui.tsx";

const STATUSES: EmailStatus[] = ["sent", "failed", "skipped"];

// The preview document's own policy: email HTML is inline styles and images, never script.
// `sandbox` gives it an opaque origin, so it cannot reach the console even if it tried.
const PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; " +
  "font-src data: https:; sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

const STATE_CLASS: Record<EmailStatus, string> = {
  sent: "completed",
  failed: "failed",
  skipped: "pending",
};

function templateParam(c: ConsoleContext): EmailName {
  const name = c.req.param("name") ?? "";
  if (!isEmailName(name)) throw new HttpError(404, `There is no email template named ${name}`);
  return name;
}

/** The template rendered with its sample values and the project's own name. */
function preview(deps: AppDeps, name: EmailName): RenderedEmail {
  const values = { ...EMAILS[name].sample, project_name: deps.config.projectName };
  return emailTemplates().render(name, values as never);
}

/** `/emails`, a template's preview, and the preview's document. */
export function emailPages(deps: AppDeps): Hono<ConsoleEnv> {
  const router = new Hono<ConsoleEnv>();

  router.get("/emails", async (c) => {
    const to = textParam(c, "to");
    const status = textParam(c, "status") as EmailStatus | undefined;
    if (status !== undefined && !STATUSES.includes(status)) {
      throw new HttpError(400, `status must be one of: ${STATUSES.join(", ")}`);
    }
    const template = textParam(c, "template", 100);
    const current = pageParam(c);
    const log = await listEmailLog(deps.sql, { to, status, template }, {
      skip: (current - 1) * PAGE_SIZE,
      limit: PAGE_SIZE,
    });
    const templates = emailTemplates();
    return page(
      c,
      "Emails",
      <div>
        <h2>Templates</h2>
        <p class="muted">
          Files in <code>emails/templates/</code>; what each gets is declared in{" "}
          <code>emails/catalog.ts</code>.
        </p>
        <table>
          <Head cols={["Template", "What it is", "Values", "Text part"]} />
          <tbody>
            {templates.names().map((name) => (
              <tr>
                <th scope="row">
                  <a href={href(c, `/emails/templates/${name}`)}>{name}</a>
                </th>
                <td>{EMAILS[name].description}</td>
                <td>
                  <code>{Object.keys(EMAILS[name].sample).join(", ")}</code>
                </td>
                <td>{templates.hasText(name) ? `${name}.txt` : "from the HTML"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>Log</h2>
        <form method="get" action={href(c, "/emails")} class="filters" role="search">
          <span>
            <label for="f-to">Recipient</label>
            <input id="f-to" name="to" type="search" value={to} maxlength={255} />
          </span>
          <span>
            <label for="f-status">Status</label>
            <select id="f-status" name="status">
              <option value="">any</option>
              {STATUSES.map((s) => <option key={s} value={s} selected={s === status}>{s}</option>)}
            </select>
          </span>
          <span>
            <label for="f-template">Template</label>
            <select id="f-template" name="template">
              <option value="">any</option>
              {templates.names().map((n) => (
                <option value={n} selected={n === template}>{n}</option>
              ))}
            </select>
          </span>
          <button type="submit">Filter</button>
        </form>
        {log.count === 0 ? <p>No emails match.</p> : (
          <table>
            <Head cols={["When", "Status", "Template", "To", "Subject", "Attempt", "Reply"]} />
            <tbody>
              {log.data.map((r) => (
                <tr>
                  <td>
                    <When at={r.at} />
                  </td>
                  <td>
                    <span class={`state ${STATE_CLASS[r.status]}`}>{r.status}</span>
                  </td>
                  <td>{r.template ?? ""}</td>
                  <td>
                    {r.user_id === null
                      ? r.to
                      : <a href={href(c, `/users/${r.user_id}`)}>{r.to}</a>}
                  </td>
                  <td>{r.subject}</td>
                  <td class="num">
                    {r.job_id === null
                      ? String(r.attempt ?? "")
                      : <a href={href(c, `/jobs/${r.job_id}`)}>{r.attempt ?? "job"}</a>}
                  </td>
                  <td>
                    {r.smtp_response && <code>{r.smtp_response}</code>}
                    {r.error && <div class="muted">{r.error}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager
          base={href(c, "/emails")}
          query={{ to, status, template }}
          page={current}
          count={log.count}
        />
      </div>,
    );
  });

  router.get("/emails/templates/:name", (c) => {
    const name = templateParam(c);
    const email = preview(deps, name);
    return page(
      c,
      "Emails",
      <div>
        <p>
          <a href={href(c, "/emails")}>Emails</a> › <strong>{name}</strong>
        </p>
        <p>{EMAILS[name].description}. Shown with sample values.</p>
        <dl class="facts">
          <dt>Subject</dt>
          <dd>{email.subject}</dd>
          <dt>File</dt>
          <dd>
            <code>emails/templates/{name}.html</code>
          </dd>
        </dl>
        <h2>HTML</h2>
        <iframe
          class="email-preview"
          title={`The ${name} email`}
          src={href(c, `/emails/templates/${name}/html`)}
          sandbox=""
          referrerpolicy="no-referrer"
        >
        </iframe>
        <h2>Text</h2>
        <pre class="json" tabindex={0} aria-label="The text part">{email.text}</pre>
      </div>,
    );
  });

  router.get("/emails/templates/:name/html", (c) => {
    const email = preview(deps, templateParam(c));
    c.header("Content-Security-Policy", PREVIEW_CSP);
    return c.html(email.html);
  });

  return router;
}
