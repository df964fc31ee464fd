/**
 * What Tusk has to say about the PostgreSQL server it runs on: its version
 * against the ones Tusk supports, and whether autovacuum keeps the planner's
 * statistics.
 *
 * @module
 */
import type { Sql } from "./client.ts";

/** The oldest and newest PostgreSQL major versions Tusk is tested on. */
export const SUPPORTED_POSTGRES = { oldest: 15, newest: 18 } as const;

/** The settings {@link serverWarnings} reads. */
export interface ServerFacts {
  /** `server_version_num`, e.g. 150020 for 15.20. */
  version: number;
  autovacuum: boolean;
}

/** Reads the facts {@link serverWarnings} judges. */
export async function serverFacts(sql: Sql): Promise<ServerFacts> {
  const [row] = await sql<{ version: number; autovacuum: string }[]>`
    select current_setting('server_version_num')::int as version,
      current_setting('autovacuum') as autovacuum`;
  return { version: row!.version, autovacuum: row!.autovacuum === "on" };
}

/**
 * One line per thing the operator should know: a version older than Tusk
 * supports, or autovacuum off (the planner then has no statistics for growing
 * tables, and queries that need them read whole tables).
 *
 * @example
 * ```ts
 * for (const warning of serverWarnings(await serverFacts(sql))) log.warn(warning);
 * ```
 */
export function serverWarnings(facts: ServerFacts): string[] {
  const warnings: string[] = [];
  const major = Math.floor(facts.version / 10_000);
  if (major < SUPPORTED_POSTGRES.oldest) {
    warnings.push(
      `PostgreSQL ${major} is older than Tusk supports (${SUPPORTED_POSTGRES.oldest} to ` +
        `${SUPPORTED_POSTGRES.newest}, tested on each); upgrade the server`,
    );
  }
  if (!facts.autovacuum) {
    warnings.push(
      "autovacuum is off on this PostgreSQL server, so tables get no planner statistics as they " +
        "grow: audit history and your own queries slow down with their tables (the job queue " +
        "does not). Turn it on (ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf()), or " +
        "run VACUUM ANALYZE on a schedule",
    );
  }
  return warnings;
}
