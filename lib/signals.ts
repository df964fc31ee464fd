/**
 * Waiting for SIGINT/SIGTERM, shared by every process role.
 *
 * @module
 */

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * Resolves with the first SIGINT/SIGTERM. The listeners are removed at once,
 * so a second signal gets the default action: an impatient Ctrl-C still quits.
 */
export function nextSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const handlers = SIGNALS.map((signal) => {
      const handler = () => {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        resolve(signal);
      };
      return [signal, handler] as const;
    });
    for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  });
}
