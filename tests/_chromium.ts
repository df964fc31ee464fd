/**
 * Debian's Chromium for browser tests: where it is, and the flags it needs
 * on these machines. Never a browser Playwright downloads.
 *
 * @module
 */

/** The Chromium binary: /usr/bin/chromium (apt-get install -y chromium), or CHROMIUM_PATH. */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** As the machine notes say: without these, Chromium keeps calling hosts this network refuses. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
