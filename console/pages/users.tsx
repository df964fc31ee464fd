/**
 * Users: search by email, create, activate or deactivate, grant or revoke
 * superuser, send a password reset email. The account rules are the API's
 * (`lib/accounts.ts`): the last active superuser stays, and losing access
 * revokes every token and console session at once.
 *
 * @module
 */
import { Hono } from "hono";
import { getUserById, listUsers, type User } from "../../db/users.ts";
import { passwordRecovery } from "../../jobs/password_recovery.ts";
import { changeUser, createAccount, EmailTakenError } from "../../services/accounts.ts";
import { HttpError } from "../../lib/http_error.ts";
import type { AppDeps } from "../../http/router.ts";
import { UserCreate } from "../../routes/schemas.ts";
import { firstProblem, formFields, pageParam, textParam, uuidParam } from "../params.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { setFlash } from "../session.ts";
import { Confirm, Csrf, Head, href, page, PAGE_SIZE, Pager, When, YesNo } from "../ui.tsx";

// A hint for the browser; the API's UserCreate schema decides.
const NAME_MAX = 255;

function userPage(c: ConsoleContext, user: User, mailEnabled: boolean) {
  const me = c.get("operator").id === user.id;
  const base = href(c, `/users/${user.id}`);
  return page(
    c,
    "Users",
    <div>
      <p>
        <a href={href(c, "/users")}>All users</a> › {user.email}
      </p>
      <h2>{user.full_name ? `${user.full_name} <${user.email}>` : user.email}</h2>
      <dl class="facts">
        <dt>Active</dt>
        <dd>
          <YesNo value={user.is_active} />
        </dd>
        <dt>Superuser</dt>
        <dd>
          <YesNo value={user.is_superuser} />
        </dd>
        <dt>Created</dt>
        <dd>
          <When at={user.created_at} />
        </dd>
        <dt>Id</dt>
        <dd>
          <code>{user.id}</code>
        </dd>
      </dl>
      <div class="actions">
        <Confirm
          c={c}
          action={`${base}/active`}
          label={user.is_active ? "Deactivate" : "Activate"}
          confirm={user.is_active ? `Yes, deactivate ${user.email}` : `Yes, activate ${user.email}`}
          danger={user.is_active}
          fields={{ is_active: user.is_active ? "false" : "true" }}
        >
          {user.is_active
            ? `${user.email} is logged out everywhere at once and cannot log in until activated.${
              me ? " That includes you, here." : ""
            }`
            : `${user.email} can log in again.`}
        </Confirm>
        <Confirm
          c={c}
          action={`${base}/superuser`}
          label={user.is_superuser ? "Revoke superuser" : "Grant superuser"}
          confirm={user.is_superuser ? "Yes, revoke" : "Yes, grant"}
          danger={user.is_superuser}
          fields={{ is_superuser: user.is_superuser ? "false" : "true" }}
        >
          {user.is_superuser
            ? "Their tokens and console sessions end; they keep a normal account."
            : "They can use every superuser endpoint and this console."}
        </Confirm>
        {mailEnabled
          ? (
            <Confirm
              c={c}
              action={`${base}/password-reset`}
              label="Send password reset email"
              confirm="Yes, send it"
            >
              A single-use link goes to{" "}
              {user.email}; the current password keeps working until it is used.
            </Confirm>
          )
          : <p class="muted">Email is off (EMAIL_TRANSPORT=off), so no reset email can be sent.</p>}
        <p>
          <a href={href(c, `/history?table=users&row_id=${user.id}`)}>This user's audit history</a>
        </p>
      </div>
    </div>,
  );
}

function flagFor(c: ConsoleContext, error: unknown): boolean {
  if (error instanceof HttpError && (error.status === 403 || error.status === 409)) {
    setFlash(c, { kind: "error", text: error.message });
    return true;
  }
  return false;
}

/** `/users`, `/users/:id` and the user actions. */
export function userPages(deps: AppDeps): Hono<ConsoleEnv> {
  const { sql, mailer } = deps;
  const router = new Hono<ConsoleEnv>();

  router.get("/users", async (c) => {
    const q = textParam(c, "q");
    const current = pageParam(c);
    const users = await listUsers(sql, {
      skip: (current - 1) * PAGE_SIZE,
      limit: PAGE_SIZE,
      email: q,
    });
    return page(
      c,
      "Users",
      <div>
        <form method="get" action={href(c, "/users")} class="search" role="search">
          <label for="q">Email contains</label>
          <input id="q" name="q" type="search" value={q} maxlength={255} />
          <button type="submit">Search</button>
        </form>
        {users.count === 0 ? <p>No users match.</p> : (
          <table>
            <Head cols={["Email", "Name", "Active", "Superuser", "Created"]} />
            <tbody>
              {users.data.map((u) => (
                <tr>
                  <th scope="row">
                    <a href={href(c, `/users/${u.id}`)}>{u.email}</a>
                  </th>
                  <td>{u.full_name ?? ""}</td>
                  <td>
                    <YesNo value={u.is_active} />
                  </td>
                  <td>
                    <YesNo value={u.is_superuser} />
                  </td>
                  <td>
                    <When at={u.created_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager base={href(c, "/users")} query={{ q }} page={current} count={users.count} />
        <h2>New user</h2>
        <form method="post" action={href(c, "/users")} class="stacked">
          <Csrf c={c} />
          <label for="new-email">Email</label>
          <input
            id="new-email"
            name="email"
            type="email"
            required
            maxlength={255}
            autocomplete="off"
          />
          <label for="new-name">Full name (optional)</label>
          <input id="new-name" name="full_name" maxlength={NAME_MAX} autocomplete="off" />
          <label for="new-password">Password (8 to 128 characters)</label>
          <input
            id="new-password"
            name="password"
            type="password"
            required
            minlength={8}
            maxlength={128}
            autocomplete="new-password"
          />
          <label class="check">
            <input type="checkbox" name="is_superuser" value="true" /> Superuser
          </label>
          <button type="submit">Create user</button>
        </form>
      </div>,
    );
  });

  router.post("/users", async (c) => {
    const form = await formFields(c);
    const parsed = UserCreate.safeParse({
      email: form.email?.trim() ?? "",
      password: form.password ?? "",
      full_name: form.full_name?.trim() || null,
      is_superuser: form.is_superuser === "true",
    });
    if (!parsed.success) {
      const problem = firstProblem(parsed.error, {
        email: "Enter a valid email address",
        password: "The password must be 8 to 128 characters",
        full_name: "The name is too long",
      });
      setFlash(c, { kind: "error", text: problem });
      return c.redirect(href(c, "/users"), 303);
    }
    try {
      const user = await createAccount(deps, parsed.data);
      setFlash(c, { kind: "ok", text: `User ${user.email} created.` });
      return c.redirect(href(c, `/users/${user.id}`), 303);
    } catch (error) {
      if (!(error instanceof EmailTakenError)) throw error;
      setFlash(c, {
        kind: "error",
        text: "The user with this email already exists in the system.",
      });
      return c.redirect(href(c, "/users"), 303);
    }
  });

  router.get("/users/:id", async (c) => {
    const user = await getUserById(sql, uuidParam(c, "id", "User"));
    if (user === undefined) throw new HttpError(404, "User not found");
    return userPage(c, user, mailer.enabled);
  });

  for (const field of ["active", "superuser"] as const) {
    router.post(`/users/:id/${field}`, async (c) => {
      const id = uuidParam(c, "id", "User");
      const name = field === "active" ? "is_active" : "is_superuser";
      const value = (await formFields(c))[name];
      if (value !== "true" && value !== "false") {
        throw new HttpError(400, `${name} must be true or false`);
      }
      try {
        const user = await changeUser(sql, id, { [name]: value === "true" });
        if (user === undefined) throw new HttpError(404, "User not found");
        const what = field === "active"
          ? (user.is_active ? "activated" : "deactivated")
          : (user.is_superuser ? "made a superuser" : "no longer a superuser");
        setFlash(c, { kind: "ok", text: `${user.email} is ${what}.` });
      } catch (error) {
        if (!flagFor(c, error)) throw error;
      }
      return c.redirect(href(c, `/users/${id}`), 303);
    });
  }

  router.post("/users/:id/password-reset", async (c) => {
    const user = await getUserById(sql, uuidParam(c, "id", "User"));
    if (user === undefined) throw new HttpError(404, "User not found");
    if (!mailer.enabled) {
      throw new HttpError(409, "Email is off (EMAIL_TRANSPORT=off): no reset email can be sent");
    }
    // As the API's recovery: the worker mints the token, so the link is never stored in clear.
    await passwordRecovery.delay({ userId: user.id });
    setFlash(c, { kind: "ok", text: `A password reset email to ${user.email} is queued.` });
    return c.redirect(href(c, `/users/${user.id}`), 303);
  });

  return router;
}
