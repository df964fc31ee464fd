/**
 * Migrations: every migration the code ships or the database records, with
 * its state, when it was applied and how long it took.
 *
 * @module
 */
import { Hono } from "hono";
import { inspectMigrations } from "../../db/migrate/mod.ts";
import type { AppDeps } from "../../http/router.ts";
import type { ConsoleEnv } from "../context.ts";
import { Head, page, When } from "../ui.tsx";

const STATE_WORDS = {
  applied: "applied",
  pending: "pending: run deno task migrate",
  edited: "edited since it was applied",
  unknown: "applied, but not in this code",
};

/** `/migrations`. */
export function migrationPages(deps: AppDeps): Hono<ConsoleEnv> {
  const router = new Hono<ConsoleEnv>();
  router.get("/migrations", async (c) => {
    const entries = await inspectMigrations(deps.sql, deps.migrations);
    const pending = entries.filter((e) => e.state === "pending").length;
    return page(
      c,
      "Migrations",
      <div>
        <p>
          {entries.length - pending} applied, {pending} pending.
        </p>
        <table>
          <Head cols={[["Version", "num"], "Name", "State", "Applied", ["Took", "num"]]} />
          <tbody>
            {entries.map((e) => (
              <tr>
                <td class="num">{e.version}</td>
                <th scope="row">{e.name}</th>
                <td>
                  <span class={`state ${e.state}`}>{STATE_WORDS[e.state]}</span>
                </td>
                <td>
                  <When at={e.applied_at} />
                </td>
                <td class="num">{e.duration_ms === undefined ? "—" : `${e.duration_ms} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>,
    );
  });
  return router;
}
