/**
 * A background pass run now and then every `intervalSeconds` (counted from the end of the last
 * one, so passes never overlap) until stopped; `stop()` waits for a pass under way.
 *
 * @module
 */

/** A running {@link repeat}. */
export interface Repeating {
  stop(): Promise<void>;
}

/**
 * Runs `pass` now and every `intervalSeconds` after each one ends; a pass that throws is handed to
 * `onError` and the next one runs as usual.
 *
 * @example
 * ```ts
 * const sweeping = repeat(30, () => sweep(sql), (error) => log.error("sweep failed", { error }));
 * await sweeping.stop();
 * ```
 */
export function repeat(
  intervalSeconds: number,
  pass: () => Promise<unknown>,
  onError: (error: unknown) => void,
): Repeating {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const run = () => {
    running = pass().then(() => {}, onError).finally(() => {
      if (!stopped) timer = setTimeout(run, intervalSeconds * 1000);
    });
  };
  run();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
