/**
 * The console's page frame and the pieces every page uses: tables, pagers,
 * confirmation forms, times and JSON. Server-rendered with `hono/jsx`; no
 * inline script or style anywhere (the CSP forbids both).
 *
 * @module
 */
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { assetUrl } from "./assets.ts";
import type { ConsoleContext } from "./context.ts";
import { CSRF_FIELD, CSRF_HEADER, type Flash, takeFlash } from "./session.ts";

/** The pages in the navigation, in order. */
const NAV = [
  ["", "Overview"],
  ["/jobs", "Jobs"],
  ["/schedules", "Schedules"],
  ["/flags", "Flags"],
  ["/users", "Users"],
  ["/history", "Audit history"],
  ["/changes", "Live changes"],
  ["/emails", "Emails"],
  ["/analytics", "Analytics"],
  ["/migrations", "Migrations"],
] as const;

/** Rows per page in every list. */
export const PAGE_SIZE = 25;

/** A console path: `/admin/jobs` for `/jobs`, under wherever the console is mounted. */
export function href(c: ConsoleContext, path: string): string {
  return `${c.get("base")}${path}`;
}

/** Renders a full page for an operator (or, without `c.var.operator`, the bare frame). */
export function page(
  c: ConsoleContext,
  title: string,
  body: Child,
  options: { status?: ContentfulStatusCode; flash?: Flash } = {},
) {
  const operator = c.get("operator") as ConsoleContext["var"]["operator"] | undefined;
  const flash = options.flash ?? takeFlash(c);
  const project = c.get("projectName");
  return c.html(
    "<!doctype html>" +
      (
        <html lang="en">
          <head>
            <meta charset="utf-8" />
            <meta name="viewport" content="width=device-width, initial-scale=1" />
            {
              /* htmx must not add a style element (the CSP allows none) nor evaluate code. */
            }
            <meta
              name="htmx-config"
              content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}'
            />
            <title>{title} · {project} console</title>
            <link rel="stylesheet" href={assetUrl(c.get("base"), "console.css")} />
            <script src={assetUrl(c.get("base"), "htmx.min.js")} defer></script>
          </head>
          <body
            hx-headers={operator ? JSON.stringify({ [CSRF_HEADER]: c.get("csrf") }) : undefined}
          >
            <a class="skip" href="#main">Skip to content</a>
            <header class="top">
              <span class="brand">{project} console</span>
              {operator && (
                <nav aria-label="Console">
                  <ul>
                    {NAV.map(([path, label]) => (
                      <li>
                        <a
                          href={href(c, path)}
                          aria-current={title === label ? "page" : undefined}
                        >
                          {label}
                        </a>
                      </li>
                    ))}
                  </ul>
                </nav>
              )}
              {operator && (
                <form method="post" action={href(c, "/logout")} class="logout">
                  <span>{operator.email}</span>
                  <Csrf c={c} />
                  <button type="submit">Log out</button>
                </form>
              )}
            </header>
            <main id="main">
              <h1>{title}</h1>
              {flash && (
                <p class={`flash ${flash.kind}`} role={flash.kind === "error" ? "alert" : "status"}>
                  {flash.text}
                </p>
              )}
              {body}
            </main>
          </body>
        </html>
      ),
    options.status ?? 200,
  );
}

/** The hidden CSRF field every state-changing form carries. */
export const Csrf: FC<{ c: ConsoleContext }> = ({ c }) => (
  <input type="hidden" name={CSRF_FIELD} value={c.get("csrf")} />
);

/**
 * A destructive action behind a confirmation that needs no script: the
 * summary opens a form whose button does it.
 */
export const Confirm: FC<
  PropsWithChildren<{
    c: ConsoleContext;
    action: string;
    label: string;
    confirm: string;
    danger?: boolean;
    fields?: Record<string, string>;
  }>
> = ({ c, action, label, confirm, danger, fields, children }) => (
  <details class="confirm">
    <summary class={danger ? "button danger" : "button"}>{label}</summary>
    <form method="post" action={action}>
      <Csrf c={c} />
      {Object.entries(fields ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      {children && <p>{children}</p>}
      <button type="submit" class={danger ? "danger" : undefined}>{confirm}</button>
    </form>
  </details>
);

/** A small form with one button and no confirmation (reversible actions). */
export const Action: FC<{
  c: ConsoleContext;
  action: string;
  label: string;
  fields?: Record<string, string>;
}> = ({ c, action, label, fields }) => (
  <form method="post" action={action} class="inline">
    <Csrf c={c} />
    {Object.entries(fields ?? {}).map(([name, value]) => (
      <input type="hidden" name={name} value={value} />
    ))}
    <button type="submit">{label}</button>
  </form>
);

/** A time as UTC, machine-readable, with how long ago (or until) it is. */
export const When: FC<{ at: Date | string | null | undefined }> = ({ at }) => {
  if (at === null || at === undefined) return <span class="muted">—</span>;
  const date = new Date(at);
  const text = date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  return <time datetime={date.toISOString()} title={relative(date)}>{text}</time>;
};

/** "3 min ago", "in 2 h". */
export function relative(date: Date, now = Date.now()): string {
  const seconds = Math.round((date.getTime() - now) / 1000);
  return seconds < 0 ? `${duration(-seconds)} ago` : `in ${duration(seconds)}`;
}

/** A number of seconds in the largest sensible unit. */
export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** JSON, pretty-printed. */
export const Json: FC<{ value: unknown; label: string }> = ({ value, label }) => (
  <pre class="json" aria-label={label} tabindex={0}>{JSON.stringify(value ?? null, null, 2)}</pre>
);

/** Previous/next links for a list of `count` rows shown `PAGE_SIZE` at a time. */
export const Pager: FC<
  { base: string; query: Record<string, string | undefined>; page: number; count: number }
> = (
  { base, query, page: current, count },
) => {
  const pages = Math.max(1, Math.ceil(count / PAGE_SIZE));
  const link = (n: number) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
    if (n > 1) params.set("page", String(n));
    const qs = params.toString();
    return qs ? `${base}?${qs}` : base;
  };
  return (
    <nav class="pager" aria-label="Pages">
      {current > 1 ? <a href={link(current - 1)}>← Newer</a> : <span />}
      <span>
        Page {current} of {pages} ({count} in all)
      </span>
      {current < pages ? <a href={link(current + 1)}>Older →</a> : <span />}
    </nav>
  );
};

/** A yes/no cell. */
export const YesNo: FC<{ value: boolean }> = ({ value }) => (
  <span class={value ? "yes" : "no"}>{value ? "yes" : "no"}</span>
);

/** A table's header row: a label per column, or `[label, "num"]` for a column of numbers. */
export const Head: FC<{ cols: (string | [string, "num"])[] }> = ({ cols }) => (
  <thead>
    <tr>
      {cols.map((col) =>
        typeof col === "string"
          ? <th key={col} scope="col">{col}</th>
          : <th key={col[0]} scope="col" class="num">{col[0]}</th>
      )}
    </tr>
  </thead>
);
