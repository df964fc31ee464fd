/**
 * What an email and a password must be, everywhere one is set: the API, the
 * command line, and the first superuser of the configuration.
 *
 * @module
 */
import { z } from "zod";

/** An email: validated, at most 255 characters, compared case-insensitively by the database. */
export const Email = z.email().max(255);
/** A password: 8..128 characters, used exactly as given. */
export const Password = z.string().min(8).max(128);
