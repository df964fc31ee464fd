/**
 * Just enough of the protobuf wire format to read OTLP: a message is split
 * into its fields, each kept raw, and the OTLP decoders pick the ones they
 * know by number (unknown fields are skipped, as protobuf requires).
 *
 * @module
 */

/** One field's raw value: a varint, 8 or 4 fixed bytes, or length-delimited bytes. */
export type Raw = bigint | Uint8Array;

/** A decoded message: every value of each field number, in order. */
export type Fields = Map<number, Raw[]>;

/** The bytes could not be read as protobuf. */
export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtobufError";
  }
}

/** Splits one message into its fields. */
export function fields(bytes: Uint8Array): Fields {
  const out: Fields = new Map();
  let pos = 0;
  function varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= bytes.length) throw new ProtobufError("truncated varint");
      const byte = bytes[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new ProtobufError("varint longer than 10 bytes");
  }
  function take(length: number): Uint8Array {
    if (length < 0 || pos + length > bytes.length) throw new ProtobufError("truncated field");
    const value = bytes.subarray(pos, pos + length);
    pos += length;
    return value;
  }
  while (pos < bytes.length) {
    const key = varint();
    const number = Number(key >> 3n);
    let value: Raw;
    switch (Number(key & 7n)) {
      case 0:
        value = varint();
        break;
      case 1:
        value = take(8);
        break;
      case 2:
        value = take(Number(varint()));
        break;
      case 5:
        value = take(4);
        break;
      default:
        throw new ProtobufError(`unsupported wire type in field ${number}`);
    }
    const list = out.get(number);
    if (list) list.push(value);
    else out.set(number, [value]);
  }
  return out;
}

const utf8 = new TextDecoder();

/** Every length-delimited value of `number`, e.g. a repeated sub-message. */
export function all(message: Fields, number: number): Uint8Array[] {
  return (message.get(number) ?? []).filter((v): v is Uint8Array => v instanceof Uint8Array);
}

/** The last length-delimited value of `number` (protobuf's rule for repeated scalars). */
export function bytesOf(message: Fields, number: number): Uint8Array | undefined {
  return all(message, number).at(-1);
}

/** A string field; "" when absent. */
export function stringOf(message: Fields, number: number): string {
  const value = bytesOf(message, number);
  return value ? utf8.decode(value) : "";
}

/** A varint field as a number; 0 when absent. */
export function numberOf(message: Fields, number: number): number {
  const value = message.get(number)?.at(-1);
  return typeof value === "bigint" ? Number(BigInt.asIntN(64, value)) : 0;
}

/** A fixed64 field as an unsigned bigint; 0n when absent. */
export function fixed64Of(message: Fields, number: number): bigint {
  const value = message.get(number)?.at(-1);
  if (!(value instanceof Uint8Array) || value.length !== 8) return 0n;
  return new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, true);
}

/** A fixed64 field read as a double. */
export function doubleOf(message: Fields, number: number): number {
  const value = message.get(number)?.at(-1);
  if (!(value instanceof Uint8Array) || value.length !== 8) return 0;
  return new DataView(value.buffer, value.byteOffset, 8).getFloat64(0, true);
}

/** Bytes as lowercase hex (trace and span ids). */
export function hex(bytes: Uint8Array | undefined): string {
  return bytes ? Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") : "";
}
