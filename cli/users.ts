/**
 * `tusk users ...`: create, activate, deactivate, reset-password, list.
 *
 * @module
 */
import { getUserByEmail, listUsers, type User } from "../db/users.ts";
import { Email, Password } from "../routes/schemas.ts";
import { changeUser, EmailTakenError, registerUser } from "../services/accounts.ts";
import { withDatabase } from "./_db.ts";
import {
  CliError,
  parse,
  printTable,
  readPassword,
  subcommandFallback,
  UsageError,
} from "./_io.ts";

const USAGE = `Usage: tusk users <command>

Commands:
  create EMAIL [--superuser] [--full-name NAME] [--password PASSWORD]
                        create a user; without --password the password is read from
                        standard input or typed at a prompt (never echoed)
  activate EMAIL        let a user log in again
  deactivate EMAIL      stop a user from logging in (revokes their tokens)
  reset-password EMAIL [PASSWORD]
                        set a new password (prompted when omitted), re-activate the user,
                        and revoke their tokens
  list                  every user, newest first`;

function validEmail(raw: string | undefined): string {
  const parsed = Email.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(`${JSON.stringify(raw ?? "")} is not a valid email address`);
  }
  return parsed.data;
}

function validPassword(raw: string): string {
  if (!Password.safeParse(raw).success) {
    throw new UsageError("the password must be 8 to 128 characters long");
  }
  return raw;
}

async function existing(sql: Parameters<typeof getUserByEmail>[0], email: string): Promise<User> {
  const user = await getUserByEmail(sql, email);
  if (user === undefined) throw new CliError(`no user has the email ${email}`);
  return user;
}

/** Runs `tusk users ARGS`; returns the exit code. */
export async function usersCommand(args: string[], env: Record<string, string>): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const p = parse(rest, {
        usage: USAGE,
        sub,
        options: {
          superuser: { type: "boolean" },
          "full-name": { type: "string" },
          password: { type: "string" },
        },
        min: 1,
        max: 1,
      });
      if (!p) return 0;
      const email = validEmail(p.positionals[0]);
      const password = validPassword(p.values.password ?? await readPassword(true));
      return await withDatabase(env, async ({ sql }) => {
        try {
          const user = await registerUser(sql, {
            email,
            password,
            full_name: p.values["full-name"] ?? null,
            is_superuser: p.values.superuser ?? false,
          });
          console.log(
            `created ${user.is_superuser ? "superuser" : "user"} ${user.email} (${user.id})`,
          );
          return 0;
        } catch (error) {
          if (error instanceof EmailTakenError) {
            throw new CliError(`a user with the email ${email} already exists`);
          }
          throw error;
        }
      });
    }
    case "activate":
    case "deactivate": {
      const p = parse(rest, { usage: USAGE, sub, options: {}, min: 1, max: 1 });
      if (!p) return 0;
      const email = validEmail(p.positionals[0]);
      return await withDatabase(env, async ({ sql }) => {
        const user = await existing(sql, email);
        await changeUser(sql, user.id, { is_active: sub === "activate" });
        console.log(`${sub}d ${user.email}`);
        return 0;
      });
    }
    case "reset-password": {
      const p = parse(rest, {
        usage: USAGE,
        sub,
        options: { password: { type: "string" } },
        min: 1,
        max: 2,
      });
      if (!p) return 0;
      const email = validEmail(p.positionals[0]);
      const password = validPassword(
        p.positionals[1] ?? p.values.password ?? await readPassword(true),
      );
      return await withDatabase(env, async ({ sql }) => {
        const user = await existing(sql, email);
        await changeUser(sql, user.id, { password, is_active: true });
        console.log(
          `password reset for ${user.email}; the user is active and older tokens are revoked`,
        );
        return 0;
      });
    }
    case "list": {
      const p = parse(rest, { usage: USAGE, sub, options: {}, min: 0, max: 0 });
      if (!p) return 0;
      return await withDatabase(env, async ({ sql }) => {
        const { data, count } = await listUsers(sql, { skip: 0, limit: 100_000 });
        printTable(
          ["EMAIL", "FULL NAME", "ACTIVE", "SUPERUSER", "CREATED", "ID"],
          data.map((u) => [
            u.email,
            u.full_name ?? "",
            u.is_active ? "yes" : "no",
            u.is_superuser ? "yes" : "no",
            u.created_at.toISOString(),
            u.id,
          ]),
        );
        console.log(`${count} user${count === 1 ? "" : "s"}`);
        return 0;
      });
    }
    default:
      return subcommandFallback("users", sub, USAGE);
  }
}
