/**
 * Sending email with nodemailer, through the transport config chooses:
 * `smtp`, `file` (each message as `.eml` plus `.html` under `EMAILS_DIR`),
 * or `off` (nothing is sent; a log line says so).
 *
 * @module
 */
import nodemailer from "nodemailer";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logging.ts";
import type { RenderedEmail } from "./templates.ts";

/** Sends rendered emails; `close()` releases SMTP connections. */
export interface Mailer {
  transport: Config["emailTransport"];
  /** True unless the transport is `off`. */
  enabled: boolean;
  send(to: string, email: RenderedEmail): Promise<void>;
  close(): void;
}

// An SMTP server that does not answer must not hold a request for minutes.
const SMTP_TIMEOUT_MS = 15_000;

/**
 * Creates the mailer for `config`. Connects to nothing until the first send.
 *
 * @example
 * ```ts
 * const mailer = createMailer(config, log);
 * await mailer.send("a@example.com", testEmail({ projectName: "Tusk", email: "a@example.com" }));
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
        log.warn("email is disabled (set SMTP_HOST and EMAILS_FROM_EMAIL); not sent", {
          to,
          subject: email.subject,
        });
        return Promise.resolve();
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
      async send(to, email) {
        const info = await transport.sendMail({ from, to, ...email });
        await Deno.mkdir(config.emailsDir, { recursive: true });
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        const base = join(config.emailsDir, `${stamp}-${crypto.randomUUID().slice(0, 8)}`);
        await Deno.writeFile(`${base}.eml`, info.message as Uint8Array);
        await Deno.writeTextFile(`${base}.html`, email.html);
        log.info("email written", { to, subject: email.subject, file: `${base}.eml` });
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
  return {
    transport: "smtp",
    enabled: true,
    async send(to, email) {
      const info = await transport.sendMail({ from, to, ...email });
      log.info("email sent", { to, subject: email.subject, message_id: info.messageId });
    },
    close() {
      transport.close();
    },
  };
}
