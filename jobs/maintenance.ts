/**
 * `maintenance`: hourly clean-up of expired reset tokens and stale throttle
 * counters.
 *
 * @module
 */
import { z } from "zod";
import { deleteStale } from "../db/rate_limits.ts";
import { deleteStaleResetTokens } from "../db/reset_tokens.ts";
import { defineJob } from "./define.ts";

// Longer than the longest throttle window (one hour), so no live count is cut short.
const RATE_LIMIT_MAX_AGE_SECONDS = 2 * 3600;

/** Deletes rows that no longer mean anything. */
export const maintenance = defineJob({
  name: "maintenance",
  schema: z.object({}),
  policy: { retryLimit: 1, expireInSeconds: 300, singleton: true },
  schedules: [{ cron: "17 * * * *", data: {} }],
  async handler(_data, { sql, log }) {
    const tokens = await deleteStaleResetTokens(sql);
    const counters = await deleteStale(sql, RATE_LIMIT_MAX_AGE_SECONDS);
    log.info("maintenance done", { reset_tokens_deleted: tokens, rate_limits_deleted: counters });
    return { tokens, counters };
  },
});
