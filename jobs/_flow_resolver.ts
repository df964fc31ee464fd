/**
 * Starts a flow's next jobs as soon as their parents completed. pg-boss releases them in a
 * background pass every 5 s (its `flowIntervalSeconds`, one worker at a time); a worker that
 * completes a job with children runs that pass at once instead, one pass at a time per worker.
 *
 * @module
 */
import type { PgBoss } from "pg-boss";
import type { Logger } from "../lib/logging.ts";

/** A function to call after a parent's completion is written; `onResolved` follows each pass. */
export function flowResolver(
  boss: PgBoss,
  onResolved: () => void,
  log: Logger,
): () => void {
  let running = false;
  let again = false;
  const pass = () => {
    running = true;
    boss.resolveFlow().then(onResolved, (error) => {
      // The background pass releases them a few seconds later.
      log.warn("releasing a flow's next jobs failed; pg-boss's own pass will", { error });
    }).finally(() => {
      running = false;
      if (again) {
        again = false;
        pass();
      }
    });
  };
  return () => {
    if (running) again = true;
    else pass();
  };
}
