/**
 * The console's per-request values and its context type, shared by the
 * session layer, the form readers and every page.
 *
 * @module
 */
import type { Context } from "hono";
import type { User } from "../db/users.ts";
import type { AppEnv } from "../http/router.ts";

/** Per-request values of console routes. */
export interface ConsoleEnv {
  Variables: AppEnv["Variables"] & {
    operator: User;
    csrf: string;
    /** Whether cookies get `Secure` (everywhere but local development). */
    secure: boolean;
    projectName: string;
    /** Where the console is mounted (`CONSOLE_PATH`): every link and cookie is under it. */
    base: string;
  };
}

/** A console route's context. */
export type ConsoleContext = Context<ConsoleEnv>;
