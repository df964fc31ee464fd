/**
 * Reading `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` plans in tests (and bench): the nodes
 * of a plan, flattened, with what each read. Depth checks assert on these
 * (rows and buffers), never on time.
 *
 * @module
 */
import postgres from "postgres";
import { SESSION_SETTINGS, type Sql } from "../db/client.ts";

// Postgres's type ids of json and jsonb.
const JSON_TYPES = [114, 3802];

/** One node of a plan, as Postgres reports it in JSON (the fields the checks read). */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Scan Direction"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Shared Hit Blocks": number;
  "Shared Read Blocks": number;
  Plans?: PlanNode[];
}

/** The prefix that makes Postgres run a statement and report its plan as JSON. */
export const EXPLAIN = "explain (analyze, buffers, format json) ";

/** What `EXPLAIN ... FORMAT JSON` returned (one row, one column): the plan, and any JIT. */
function explained(rows: readonly Record<string, unknown>[]): { Plan: PlanNode; JIT?: unknown } {
  const value = Object.values(rows[0] ?? {})[0];
  const parsed = typeof value === "string" ? JSON.parse(value) : value;
  return (parsed as { Plan: PlanNode; JIT?: unknown }[])[0]!;
}

/** The root node of what `EXPLAIN ... FORMAT JSON` returned. */
export function planOf(rows: readonly Record<string, unknown>[]): PlanNode {
  return explained(rows).Plan;
}

/** Whether the statement `EXPLAIN ANALYZE ... FORMAT JSON` ran was compiled by JIT. */
export function usedJit(rows: readonly Record<string, unknown>[]): boolean {
  return explained(rows).JIT !== undefined;
}

/** Every node of the plan, depth first. */
export function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** Rows a node produced over all its loops. */
export function rowsOf(node: PlanNode): number {
  return node["Actual Rows"] * node["Actual Loops"];
}

/** Buffers a node and its children touched (hit or read). */
export function buffersOf(node: PlanNode): number {
  return node["Shared Hit Blocks"] + node["Shared Read Blocks"];
}

/** A one-line-per-node outline, for assertion messages. */
export function outline(plan: PlanNode, depth = 0): string {
  const on = plan["Index Name"] ?? plan["Relation Name"];
  const line = `${"  ".repeat(depth)}${plan["Node Type"]}${on ? ` on ${on}` : ""} ` +
    `(rows ${rowsOf(plan)}, buffers ${buffersOf(plan)})`;
  return [line, ...(plan.Plans ?? []).map((p) => outline(p, depth + 1))].join("\n");
}

/**
 * Runs `work` on a client of its own (with the session settings of Tusk's
 * pool), then runs each statement it sent that mentions `only` again,
 * prefixed with `explain` (e.g. {@link EXPLAIN}), with the same values;
 * returns each EXPLAIN's rows, in order.
 */
export async function explainStatements(
  url: string,
  work: (sql: Sql) => Promise<unknown>,
  options: { explain: string; only: string },
): Promise<Record<string, unknown>[][]> {
  const sent: { text: string; values: unknown[]; types: number[] }[] = [];
  const client = postgres(url, {
    max: 1,
    connection: SESSION_SETTINGS,
    onnotice: () => {},
    debug: (_connection, text, values, types) => sent.push({ text, values, types }),
  });
  try {
    await work(client as unknown as Sql);
    const results: Record<string, unknown>[][] = [];
    for (const { text, values, types } of sent.splice(0)) {
      if (!text.includes(options.only)) continue; // e.g. the driver's own type lookup
      // The driver hands its hook serialized values; a json one must be sent as json again.
      const again = values.map((v, i) =>
        JSON_TYPES.includes(types[i]!) ? client.json(JSON.parse(v as string)) : v
      );
      results.push([...await client.unsafe(options.explain + text, again as never)]);
    }
    return results;
  } finally {
    await client.end();
  }
}
