/**
 * pg-boss's database interface over a postgres.js transaction: what lets a send, a fetch or a
 * flow run inside a caller's transaction (`{ db: txAdapter(tx) }`).
 *
 * @module
 */
import type { Tx } from "../db/client.ts";

/** pg-boss's database interface over `tx`. */
export function txAdapter(tx: Tx) {
  return {
    async executeSql(text: string, values?: unknown[]) {
      // Without values pg-boss may send several statements at once (a flow's inserts): only the
      // simple protocol runs those.
      if (values === undefined) return { rows: await tx.unsafe(text).simple() };
      return { rows: await tx.unsafe(text, values as never[]) };
    },
  };
}
