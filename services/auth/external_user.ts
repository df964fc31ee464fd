/**
 * The local user behind a verified external token: found by issuer and
 * subject, or created on first sight when `AUTH_AUTO_PROVISION` is on.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import type { Sql } from "../../db/client.ts";
import { findIdentity, linkIdentity } from "../../db/identities.ts";
import { getUserById, type User } from "../../db/users.ts";
import { EmailTakenError, registerUser } from "../accounts.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { Logger } from "../../lib/logging.ts";
import { randomToken } from "../../db/tokens.ts";
import type { ExternalToken } from "./issuers.ts";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function refused(): HttpError {
  return new HttpError(403, "Could not validate credentials");
}

/**
 * The user for `token`, with the template's answers: 404 for a deleted user,
 * 400 for an inactive one, 403 for an unknown identity when provisioning is
 * off, and for an email the provider does not vouch for.
 */
export async function externalUser(
  sql: Sql,
  config: Pick<Config, "authAutoProvision">,
  token: ExternalToken,
  log: Logger,
): Promise<User> {
  const { issuer, claims } = token;
  let identity = await findIdentity(sql, issuer.issuer, claims.sub);
  if (identity === undefined) {
    if (!config.authAutoProvision) throw refused();
    await provision(sql, token, log);
    identity = await findIdentity(sql, issuer.issuer, claims.sub);
  }
  if (identity?.user_id === null || identity === undefined) {
    throw new HttpError(404, "User not found");
  }
  const user = await getUserById(sql, identity.user_id);
  if (user === undefined) throw new HttpError(404, "User not found");
  if (!user.is_active) throw new HttpError(400, "Inactive user");
  return user;
}

/** Creates the user and its identity in one transaction; never a superuser. */
async function provision(sql: Sql, token: ExternalToken, log: Logger): Promise<void> {
  const { issuer, claims } = token;
  const email = claims[issuer.emailClaim];
  if (typeof email !== "string" || !EMAIL.test(email) || email.length > 255) {
    log.warn("external token refused: no usable email claim", {
      issuer: issuer.issuer,
      claim: issuer.emailClaim,
    });
    throw refused();
  }
  // Only an explicit false: providers that do not send the claim only hand out checked emails.
  if (claims.email_verified === false) {
    log.warn("external token refused: the provider marks the email unverified", {
      issuer: issuer.issuer,
    });
    throw refused();
  }
  try {
    await sql.begin(async (tx) => {
      // No password can log in: the account is the provider's to authenticate.
      const user = await registerUser(tx as unknown as Sql, {
        email,
        password: randomToken(),
        is_superuser: false,
      });
      if (
        !await linkIdentity(tx, {
          ...{ issuer: issuer.issuer, subject: claims.sub },
          userId: user.id,
          email,
        })
      ) {
        // A concurrent first request linked it: undo ours and use theirs.
        throw new LinkedMeanwhile();
      }
    });
    log.info("user provisioned from an external identity", { issuer: issuer.issuer });
  } catch (error) {
    if (error instanceof LinkedMeanwhile) return;
    if (error instanceof EmailTakenError) {
      // Linking to an existing account by email alone would hand it to whoever controls
      // that address at the provider; such accounts are not linked automatically.
      log.warn("external token refused: a local user already has this email", {
        issuer: issuer.issuer,
      });
      throw refused();
    }
    throw error;
  }
}

class LinkedMeanwhile extends Error {}
