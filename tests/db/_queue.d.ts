/** Types for the vendored driver's queue module (plain JavaScript). */
export default function Queue<T>(initial?: T[]): {
  readonly length: number;
  remove(x: T): T | null;
  push(x: T): T;
  shift(): T | undefined;
};
