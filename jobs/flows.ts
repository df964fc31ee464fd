/**
 * Flows: jobs that start only once the jobs they come `after` completed, on any worker. The
 * dependencies are pg-boss's (`flow()`: the children are inserted blocked, and pg-boss's resolver
 * releases each when its last parent completed); what happens when a parent fails for good or is
 * cancelled is Tusk's: every job waiting on it, directly or not, is cancelled (`endings.ts`).
 *
 * @module
 */
import { ambientTransaction } from "../db/ambient.ts";
import type { Tx } from "../db/client.ts";
import { currentJobClient, sendOptions, validate } from "./client.ts";
import { txAdapter } from "./tx_adapter.ts";
import type { AnyJob } from "./spec.ts";

/** One job of a flow. */
export interface FlowStep {
  /** Names the step within the flow, for `after`. */
  ref: string;
  job: AnyJob;
  data: unknown;
  /** The refs of the steps that must complete before this one starts. */
  after?: string[];
  priority?: number;
}

/** A flow pg-boss refuses: no step with `after`, a ref twice, an unknown ref, a cycle. */
export class FlowError extends Error {
  constructor(message: string) {
    super(`Job flow refused: ${message}`);
    this.name = "FlowError";
  }
}

/**
 * Sends the steps of a flow, all or none (in `tx`, or the ambient transaction, when given), and
 * resolves with each step's job id by ref. Every payload is checked against its job's schema first.
 *
 * @example
 * ```ts
 * const ids = await flow([
 *   { ref: "a", job: fetchInvoices, data: { accountId } },
 *   { ref: "b", job: fetchPayments, data: { accountId } },
 *   { ref: "c", job: reconcile, data: { accountId }, after: ["a", "b"] },
 * ]);
 * ```
 */
export async function flow(
  steps: FlowStep[],
  options: { tx?: Tx } = {},
): Promise<Record<string, string>> {
  const client = currentJobClient();
  const jobs = steps.map((step) => {
    const parsed = validate(step.job, step.data);
    return {
      ref: step.ref,
      name: step.job.name,
      data: parsed as object,
      ...(step.after ? { dependsOn: step.after } : {}),
      options: sendOptions(step.job, parsed, step.priority),
    };
  });
  const tx = options.tx ?? ambientTransaction();
  try {
    return await client.boss.flow(jobs, tx ? { db: txAdapter(tx) } : {});
  } catch (error) {
    // pg-boss checks the shape with node's assert before it writes anything.
    if ((error as Error).name === "AssertionError") throw new FlowError((error as Error).message);
    throw error;
  }
}
