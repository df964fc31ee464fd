/**
 * Sending email with nodemailer, through the transport config chooses:
 * `smtp`, `file` (each message as `.eml` plus `.html` under `EMAILS_DIR`),
 * or `off` (nothing is sent; a log line says so).
 *
 * @module
 */
import { type Attributes, type Span, SpanKind } from "@opentelemetry/api";
import nodemailer from "nodemailer";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logging.ts";
import { PRIVATE_FILE_MODE, privateDir } from "../lib/private_files.ts";
import { inSpan } from "../lib/telemetry.ts";
import type { RenderedEmail } from "./render.ts";

/** What became of a message the transport took (a refusal throws instead). */
export interface SendResult {
  /** `skipped` when the transport is `off`. */
  status: "sent" | "skipped";
  messageId?: string;
  /** The SMTP server's final reply, e.g. "250 2.0.0 Ok: queued as 4F2". */
  response?: string;
}

/** Sends rendered emails; `close()` releases SMTP connections. */
export interface Mailer {
  transport: Config["emailTransport"];
  /** True unless the transport is `off`. */
  enabled: boolean;
  send(to: string, email: RenderedEmail): Promise<SendResult>;
  close(): void;
}

// An SMTP server that does not answer must not hold a request for minutes.
const SMTP_TIMEOUT_MS = 15_000;

/**
 * Runs one send in an `email.send` span: transport, template, and (from
 * `deliver`) the message id and SMTP reply code. No address, subject or body.
 * `deliver` gets the message without its template name, which is not sent.
 */
function sendTraced(
  transport: Mailer["transport"],
  email: RenderedEmail,
  attributes: Attributes,
  deliver: (span: Span, content: Omit<RenderedEmail, "template">) => Promise<SendResult>,
): Promise<SendResult> {
  const { template, ...content } = email;
  return inSpan("email.send", {
    kind: SpanKind.CLIENT,
    attributes: {
      "email.transport": transport,
      "email.template": template ?? "unknown",
      ...attributes,
    },
  }, (span) => deliver(span, content));
}

/** The reply code of an SMTP server's final answer ("250 2.0.0 OK ..." is 250). */
function smtpCode(response: unknown): number | undefined {
  const code = typeof response === "string" ? Number(response.slice(0, 3)) : NaN;
  return Number.isInteger(code) ? code : undefined;
}

/**
 * Creates the mailer for `config`. Connects to nothing until the first send.
 *
 * @example
 * ```ts
 * const mailer = createMailer(config, log);
 * await mailer.send("a@example.com", renderEmail("test_email", { project_name: "Tusk", email: "a@example.com" }));
 * mailer.close();
 * ```
 */
export function createMailer(config: Config, log: Logger): Mailer {
  const from = {
    name: config.emailsFromName,
    address: config.emailsFromEmail ?? "noreply@localhost",
  };
  if (config.emailTransport === "off") {
    return {
      transport: "off",
      enabled: false,
      send(to, email) {
        return sendTraced("off", email, {}, () => {
          log.warn("email is disabled (set SMTP_HOST and EMAILS_FROM_EMAIL); not sent", {
            to,
            subject: email.subject,
          });
          return Promise.resolve({ status: "skipped" });
        });
      },
      close() {},
    };
  }
  if (config.emailTransport === "file") {
    const transport = nodemailer.createTransport({
      streamTransport: true,
      buffer: true,
      newline: "unix",
    });
    return {
      transport: "file",
      enabled: true,
      send(to, email) {
        return sendTraced("file", email, {}, async (span, content) => {
          const info = await transport.sendMail({ from, to, ...content });
          span.setAttribute("email.message_id", info.messageId);
          // Reset links are as good as passwords: for this user's eyes only.
          await privateDir(config.emailsDir);
          const stamp = new Date().toISOString().replace(/[:.]/g, "-");
          const base = join(config.emailsDir, `${stamp}-${crypto.randomUUID().slice(0, 8)}`);
          const mode = PRIVATE_FILE_MODE;
          // Written aside, then renamed: whoever watches the folder never reads half a message.
          await Deno.writeTextFile(`${base}.html.part`, content.html, { mode });
          await Deno.rename(`${base}.html.part`, `${base}.html`);
          await Deno.writeFile(`${base}.eml.part`, info.message as Uint8Array, { mode });
          await Deno.rename(`${base}.eml.part`, `${base}.eml`);
          log.info("email written", { to, subject: content.subject, file: `${base}.eml` });
          return { status: "sent", messageId: info.messageId };
        });
      },
      close() {},
    };
  }
  const transport = nodemailer.createTransport({
    host: config.smtp.host,
    port: config.smtp.port,
    secure: config.smtp.ssl,
    requireTLS: config.smtp.tls,
    ignoreTLS: !config.smtp.tls && !config.smtp.ssl,
    auth: config.smtp.user
      ? { user: config.smtp.user, pass: config.smtp.password ?? "" }
      : undefined,
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  });
  const server = { "server.address": config.smtp.host, "server.port": config.smtp.port };
  return {
    transport: "smtp",
    enabled: true,
    send(to, email) {
      return sendTraced("smtp", email, server, async (span, content) => {
        const info = await transport.sendMail({ from, to, ...content }).catch((error) => {
          // nodemailer keeps the refusing server's reply code (e.g. 550) on the error.
          const refused = (error as { responseCode?: unknown }).responseCode;
          if (typeof refused === "number") span.setAttribute("smtp.response.code", refused);
          throw error;
        });
        span.setAttribute("email.message_id", info.messageId);
        const code = smtpCode(info.response);
        if (code !== undefined) span.setAttribute("smtp.response.code", code);
        log.info("email sent", { to, subject: content.subject, message_id: info.messageId });
        const response = typeof info.response === "string" ? info.response : undefined;
        return { status: "sent", messageId: info.messageId, response };
      });
    },
    close() {
      transport.close();
    },
  };
}
