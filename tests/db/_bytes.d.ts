/** Types for the vendored driver's message builder (plain JavaScript). */
interface Builder {
  (): Builder;
  i: number;
  N: string;
  B(): Builder;
  Q(): Builder;
  P(): Builder;
  inc(x: number): Builder;
  str(x: string): Builder;
  i16(x: number): Builder;
  i32(x: number, at?: number): Builder;
  z(x: number): Builder;
  raw(x: Uint8Array): Builder;
  end(at?: number): Uint8Array;
}
declare const b: Builder;
export default b;
/** The parts as one message buffer: a view of the slab when they lie side by side, else a copy. */
export function join(parts: Uint8Array[]): Uint8Array;
