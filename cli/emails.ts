/**
 * `tusk emails ...`: the email templates (list, preview with sample or
 * given values) and the email log (what was sent, failed or skipped).
 *
 * @module
 */
import { type EmailStatus, listEmailLog } from "../db/email_log.ts";
import { EMAILS } from "../emails/catalog.ts";
import { emailTemplates, isEmailName, previewValues } from "../emails/render.ts";
import { withDatabase } from "./_db.ts";
import { CliError, parse, printTable, subcommandFallback, UsageError } from "./_io.ts";

const USAGE = `Usage: tusk emails <command>

Commands:
  list                              every email template and the values it takes
  preview NAME [--json VALUES] [--html]
                                    render a template with sample values (--json '{"k": "v"}'
                                    replaces some): its subject and text, or with --html its HTML
  log [--to EMAIL] [--status sent|failed|skipped] [--template NAME] [--limit N]
                                    the email log, newest first`;

const STATUSES: EmailStatus[] = ["sent", "failed", "skipped"];

function jsonValues(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new UsageError(`--json is not JSON (${(error as Error).message})`, "emails preview");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(
      `--json takes an object, e.g. '{"email": "ada@example.com"}'`,
      "emails preview",
    );
  }
  return parsed as Record<string, unknown>;
}

function preview(args: string[], env: Record<string, string>): number {
  const p = parse(args, {
    usage: USAGE,
    sub: "preview",
    options: { json: { type: "string" }, html: { type: "boolean" } },
    min: 1,
    max: 1,
  });
  if (!p) return 0;
  const name = p.positionals[0]!;
  if (!isEmailName(name)) {
    throw new CliError(
      `no email template is named ${JSON.stringify(name)}; there are ${
        Object.keys(EMAILS).join(", ")
      }`,
    );
  }
  // The project's own name, as its emails will say it.
  const project = env.PROJECT_NAME ? { project_name: env.PROJECT_NAME } : {};
  const given = previewValues(name, { ...project, ...jsonValues(p.values.json) });
  if ("problem" in given) throw new UsageError(given.problem, "emails preview");
  const email = emailTemplates().render(name, given.values as never);
  if (p.values.html) {
    console.log(email.html);
  } else {
    console.log(`Subject: ${email.subject}\n\n${email.text}`);
  }
  return 0;
}

async function log(args: string[], env: Record<string, string>): Promise<number> {
  const p = parse(args, {
    usage: USAGE,
    sub: "log",
    options: {
      to: { type: "string" },
      status: { type: "string" },
      template: { type: "string" },
      limit: { type: "string" },
    },
    min: 0,
    max: 0,
  });
  if (!p) return 0;
  const status = p.values.status as EmailStatus | undefined;
  if (status !== undefined && !STATUSES.includes(status)) {
    throw new UsageError(
      `--status takes sent, failed or skipped, not ${JSON.stringify(status)}`,
      "emails log",
    );
  }
  const limit = Number(p.values.limit ?? 50);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new UsageError(
      `--limit takes a whole number from 1 to 1000, not ${JSON.stringify(p.values.limit)}`,
      "emails log",
    );
  }
  return await withDatabase(env, async ({ sql }) => {
    const page = await listEmailLog(sql, {
      to: p.values.to,
      status,
      template: p.values.template,
    }, { skip: 0, limit });
    printTable(
      ["AT", "STATUS", "TEMPLATE", "TO", "ATTEMPT", "DETAIL"],
      page.data.map((r) => [
        r.at.toISOString(),
        r.status,
        r.template ?? "",
        r.to,
        String(r.attempt ?? ""),
        r.error ?? r.smtp_response ?? "",
      ]),
    );
    if (page.count > page.data.length) console.log(`(${page.data.length} of ${page.count})`);
    return 0;
  });
}

/** Runs `tusk emails ARGS`; returns the exit code. */
export async function emailsCommand(args: string[], env: Record<string, string>): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "list": {
      if (!parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 })) return 0;
      const templates = emailTemplates();
      printTable(
        ["NAME", "TEXT", "VALUES", "WHAT IT IS"],
        templates.names().map((name) => [
          name,
          templates.hasText(name) ? `${name}.txt` : "from HTML",
          Object.keys(EMAILS[name].sample).join(", "),
          EMAILS[name].description,
        ]),
      );
      console.log(`\nTemplates: ${templates.dir}`);
      return 0;
    }
    case "preview":
      return preview(rest, env);
    case "log":
      return await log(rest, env);
    default:
      return subcommandFallback("emails", sub, USAGE);
  }
}
