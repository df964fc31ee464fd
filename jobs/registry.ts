/**
 * Every job the worker runs and the scheduler schedules. Add new jobs here.
 *
 * @module
 */
import type { AnyJob } from "./boss.ts";
import { exportAnalyticsJob } from "./export_analytics.ts";
import { maintenance } from "./maintenance.ts";
import { passwordRecovery } from "./password_recovery.ts";
import { sendEmail } from "./send_email.ts";

/** All registered jobs. */
export const JOBS: AnyJob[] = [
  sendEmail,
  passwordRecovery,
  maintenance,
  exportAnalyticsJob,
  // Your jobs (deno task new resource NAME --job adds them here).
];
