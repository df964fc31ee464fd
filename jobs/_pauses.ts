/**
 * Paused queues as a worker sees them: read at start, and read again on every change the
 * `job_queue_controls` trigger announces (and after a lost connection, whose announcements are
 * gone), so a pause reaches every worker within a second and a resume wakes its fetch loops.
 *
 * @module
 */
import type { Sql } from "../db/client.ts";
import { pausedQueues, QUEUE_CONTROLS_CHANNEL } from "../db/job_queues.ts";
import { listenReliably } from "../db/listen.ts";

/** The paused queues, kept current. */
export interface Pauses {
  has(queue: string): boolean;
  stop(): Promise<void>;
}

/** Watches the paused queues; `onResume` hears of each queue that is no longer paused. */
export async function watchPauses(input: {
  sql: Sql;
  listenSql: Sql;
  onResume: (queue: string) => void;
}): Promise<Pauses> {
  let paused = await pausedQueues(input.sql);
  // Reads run one after another, so an older answer never overwrites a newer one.
  let reading = Promise.resolve();
  const reread = () => {
    reading = reading.then(async () => {
      const now = await pausedQueues(input.sql).catch(() => paused);
      for (const queue of paused) if (!now.has(queue)) input.onResume(queue);
      paused = now;
    });
  };
  const listening = await listenReliably(input.listenSql, QUEUE_CONTROLS_CHANNEL, {
    onNotify: reread,
    onReconnect: reread,
  });
  return {
    has: (queue) => paused.has(queue),
    async stop() {
      await listening.stop();
      await reading;
    },
  };
}
