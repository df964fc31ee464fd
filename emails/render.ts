/**
 * Rendering the email templates of `emails/templates/`: `{{ name }}`
 * placeholders (HTML-escaped; `{{ name | safe }}` for a value that is
 * already HTML), the subject from the file's `<title>` or a leading
 * `<!-- subject: ... -->`, and plain text from `<name>.txt` or, without
 * one, derived from the HTML. Every file is checked against
 * `emails/catalog.ts` when first loaded, so a mistake stops the start, not
 * a send.
 *
 * @module
 */
import { convert } from "html-to-text";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type EmailName,
  EMAILS,
  type EmailSpec,
  type EmailValues,
  NEVER_PROVIDED,
} from "./catalog.ts";

/** A rendered email, ready for any transport. */
export interface RenderedEmail {
  /** Which template rendered it (for traces and the email log; never sent). */
  template?: string;
  subject: string;
  html: string;
  text: string;
}

/** A template that cannot be used, naming the file, the line and what to fix. */
export class EmailTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmailTemplateError";
  }
}

/** The loaded templates of one folder. */
export interface EmailTemplates {
  dir: string;
  /** Things that work but deserve a look, e.g. a placeholder Tusk never fills. */
  warnings: string[];
  /** The templates, in catalog order. */
  names(): EmailName[];
  /** Whether the email has its own `<name>.txt` (otherwise text comes from the HTML). */
  hasText(name: EmailName): boolean;
  render<N extends EmailName>(name: N, values: EmailValues<N>): RenderedEmail;
}

/** Where Tusk's templates live (next to this module, so `deno compile` can embed them). */
export const TEMPLATES_DIR: string = fileURLToPath(new URL("./templates/", import.meta.url));

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * Plain text for an HTML email: hidden preheaders skipped, links as
 * "text url" (a URL that ends at white space is one any mail client picks up).
 */
export function htmlToText(html: string): string {
  const text = convert(html, {
    wordwrap: 78,
    selectors: [
      // React Email's preheader: shown by inboxes as a preview, not part of the message.
      { selector: "[data-skip-in-text=true]", format: "skip" },
      { selector: "a", options: { hideLinkHrefIfSameAsText: true, linkBrackets: false } },
      ...["h1", "h2", "h3", "h4"].map((selector) => ({ selector, options: { uppercase: false } })),
    ],
  });
  return text
    // Zero-width characters that email builders pad with, invisible but noisy in text.
    .replace(/[\u00AD\u034F\u200B-\u200F\u2060-\u2064\uFEFF]/g, "")
    .replace(/[ \t]+$/gm, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim() + "\n";
}

type Segment = string | { name: string; raw: boolean };

interface Template {
  subject: Segment[];
  html: Segment[];
  text?: Segment[];
}

const PLACEHOLDER = /\{\{([\s\S]*?)\}\}/g;
const EXPRESSION = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*(safe|e|escape)\s*)?$/;
const SUBJECT_COMMENT = /^\s*<!--\s*subject:([\s\S]*?)-->[ \t]*\r?\n?/i;
const TITLE = /<title[^>]*>([\s\S]*?)<\/title>/i;

function lineOf(source: string, index: number): number {
  return source.slice(0, index).split("\n").length;
}

/** Splits `source` into text and placeholders; `problems` collects what is wrong. */
function parse(
  source: string,
  where: string,
  spec: EmailSpec,
  problems: string[],
  unfilled: Set<string>,
): Segment[] {
  const segments: Segment[] = [];
  const jinja = source.search(/\{%|\{#/);
  if (jinja >= 0) {
    problems.push(
      `${where}:${lineOf(source, jinja)}: "${source.slice(jinja, jinja + 2)}" tags are not ` +
        "supported; only {{ name }} and {{ name | safe }} placeholders are",
    );
  }
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    segments.push(source.slice(last, match.index));
    last = match.index + match[0].length;
    const at = `${where}:${lineOf(source, match.index)}`;
    const parts = EXPRESSION.exec(match[1]!);
    if (parts === null) {
      problems.push(
        `${at}: cannot read ${match[0]}; write {{ name }}, or {{ name | safe }} for a value ` +
          "that is already HTML",
      );
      continue;
    }
    const name = parts[1]!;
    if (NEVER_PROVIDED.has(name)) {
      unfilled.add(name);
      continue;
    }
    if (!(name in spec.sample)) {
      problems.push(
        `${at}: unknown placeholder {{ ${name} }}; this email gets ${
          Object.keys(spec.sample).join(", ")
        } (emails/catalog.ts)`,
      );
      continue;
    }
    segments.push({ name, raw: parts[2] === "safe" });
  }
  segments.push(source.slice(last));
  return segments.filter((segment) => segment !== "");
}

function fill(
  segments: Segment[],
  values: Record<string, unknown>,
  escape: (value: string) => string,
): string {
  return segments.map((segment) => {
    if (typeof segment === "string") return segment;
    const value = String(values[segment.name]);
    return segment.raw ? value : escape(value);
  }).join("");
}

function readIfExists(file: string): string | undefined {
  try {
    return Deno.readTextFileSync(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function shown(file: string): string {
  const rel = relative(Deno.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

/** Reads, checks and compiles one email's files; undefined when it has problems. */
function loadOne(
  dir: string,
  name: string,
  spec: EmailSpec,
  problems: string[],
  warnings: string[],
): Template | undefined {
  const htmlFile = join(dir, `${name}.html`);
  const source = readIfExists(htmlFile);
  if (source === undefined) {
    problems.push(`${shown(htmlFile)} is missing: emails/catalog.ts declares the email "${name}"`);
    return undefined;
  }
  const before = problems.length;
  const unfilled = new Set<string>();
  const where = shown(htmlFile);
  const comment = SUBJECT_COMMENT.exec(source);
  const body = comment ? source.slice(comment[0].length) : source;
  const subjectSource = comment?.[1]?.trim() ?? TITLE.exec(body)?.[1];
  if (subjectSource === undefined || subjectSource.trim() === "") {
    problems.push(
      `${where}: no subject; give the file a <title>, or start it with <!-- subject: ... -->`,
    );
  }
  const html = parse(body, where, spec, problems, unfilled);
  const subject = parse(subjectSource ?? "", `${where} (subject)`, spec, problems, unfilled);
  const textFile = join(dir, `${name}.txt`);
  const textSource = readIfExists(textFile);
  const text = textSource === undefined
    ? undefined
    : parse(textSource, shown(textFile), spec, problems, unfilled);
  for (const placeholder of unfilled) {
    warnings.push(
      `${where} uses {{ ${placeholder} }}, which Tusk never fills (it never emails ` +
        "passwords): it renders empty",
    );
  }
  return problems.length === before ? { subject, html, text } : undefined;
}

/**
 * Loads and checks every template of `dir` against the catalog: a missing
 * file, a file the catalog does not declare, or an unknown placeholder is an
 * {@link EmailTemplateError} listing each problem.
 */
export function loadEmailTemplates(
  dir: string = TEMPLATES_DIR,
  catalog: Record<string, EmailSpec> = EMAILS,
): EmailTemplates {
  const problems: string[] = [];
  const warnings: string[] = [];
  const templates = new Map<string, Template>();
  for (const [name, spec] of Object.entries(catalog)) {
    const template = loadOne(dir, name, spec, problems, warnings);
    if (template) templates.set(name, template);
  }
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const entry of entries) {
    const match = /^(.+)\.(html|txt)$/.exec(entry.name);
    if (entry.isFile && match && !(match[1]! in catalog)) {
      problems.push(
        `${shown(join(dir, entry.name))} is not an email emails/catalog.ts declares: add ` +
          `"${match[1]}" there with a sample of each value it uses, or remove the file`,
      );
    }
  }
  if (problems.length > 0) {
    throw new EmailTemplateError(
      `the email templates need fixing:\n  ${problems.sort().join("\n  ")}`,
    );
  }
  return {
    dir,
    warnings,
    names: () => [...templates.keys()] as EmailName[],
    hasText: (name) => templates.get(name)?.text !== undefined,
    render(name, values) {
      const template = templates.get(name);
      if (template === undefined) throw new TypeError(`No email template named "${name}"`);
      const given = values as Record<string, unknown>;
      for (const key of Object.keys(catalog[name]!.sample)) {
        const value = given[key];
        if (typeof value !== "string" && !(typeof value === "number" && Number.isFinite(value))) {
          throw new TypeError(
            `renderEmail("${name}"): the value "${key}" must be a string or a number, ` +
              `got ${value === undefined ? "nothing" : JSON.stringify(value)}`,
          );
        }
      }
      const html = fill(template.html, given, escapeHtml);
      const subject = htmlToText(`<p>${fill(template.subject, given, escapeHtml)}</p>`)
        .replace(/\s+/g, " ").trim();
      const text = template.text === undefined
        ? htmlToText(html)
        : fill(template.text, given, (value) => value);
      return { template: name, subject, html, text };
    },
  };
}

/** Whether `name` is an email of the catalog. */
export function isEmailName(name: string): name is EmailName {
  return Object.hasOwn(EMAILS, name);
}

/**
 * The sample values of email `name` with `overrides` over them, for
 * previews; a problem (an unknown name, a value that is not a string or a
 * number) instead when they do not fit.
 */
export function previewValues(
  name: EmailName,
  overrides: Record<string, unknown>,
): { values: Record<string, string | number> } | { problem: string } {
  const sample: Record<string, string | number> = EMAILS[name].sample;
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in sample)) {
      return {
        problem: `the email ${name} has no value "${key}"; it takes ${
          Object.keys(sample).join(", ")
        }`,
      };
    }
    if (typeof value !== "string" && typeof value !== "number") {
      return { problem: `the value "${key}" must be a string or a number` };
    }
  }
  return { values: { ...sample, ...overrides as Record<string, string | number> } };
}

let loaded: EmailTemplates | undefined;

/** Tusk's templates (`emails/templates/`), loaded and checked on first use. */
export function emailTemplates(): EmailTemplates {
  return loaded ??= loadEmailTemplates();
}

/**
 * Renders the email `name` from `emails/templates/` with `values` (each
 * value the catalog declares for it, typed and checked).
 *
 * @example
 * ```ts
 * const email = renderEmail("test_email", { project_name: "Tusk", email: "ada@example.com" });
 * await sendEmail.delay({ to: "ada@example.com", ...email });
 * ```
 */
export function renderEmail<N extends EmailName>(name: N, values: EmailValues<N>): RenderedEmail {
  return emailTemplates().render(name, values);
}
