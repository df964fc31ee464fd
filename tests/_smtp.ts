/**
 * A real SMTP server for tests (smtp-server on loopback), and the
 * environment that points Tusk at it.
 *
 * @module
 */
import { SMTPServer } from "smtp-server";
import { freePort } from "./process.ts";

/** One message as the server received it. */
export interface Received {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on loopback that keeps what it receives. */
export async function smtpServer(port = freePort()) {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: new TextDecoder().decode(Uint8Array.from(chunks.flatMap((c) => [...c]))),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Configuration sending through the SMTP server on `port`. */
export function smtpEnv(port: number): Record<string, string> {
  return {
    SMTP_HOST: "127.0.0.1",
    SMTP_PORT: String(port),
    SMTP_TLS: "false",
    EMAILS_FROM_EMAIL: "tusk@example.com",
    EMAILS_FROM_NAME: "Tusk Mailer",
    EMAIL_TRANSPORT: "smtp",
  };
}
