/**
 * A seeded generator for property tests: a failure names its seed, and the
 * same seed replays the same choices.
 *
 * @module
 */

/** Numbers in [0, 1), integers and picks, all from one seed. */
export interface Random {
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/**
 * A small, fast generator (a 32-bit mixer); good enough to choose test cases, not for secrets.
 *
 * @example
 * ```ts
 * const r = seeded(42);
 * r.int(1, 6); // the same roll on every run with seed 42
 * ```
 */
export function seeded(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 2 ** 32;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}
