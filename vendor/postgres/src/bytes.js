// Messages are written one after another into a slab, and each is handed out as a view of it:
// one allocation per 64 KB of messages instead of a new 256-byte buffer for each (see
// vendor/README.md). A message never moves once started: fit() keeps its offset.
const size = 256
    , slab = 64 * 1024
let buffer = Buffer.allocUnsafe(slab)
  , start = 0

const messages = 'BCcDdEFfHPpQSX'.split('').reduce((acc, x) => {
  const v = x.charCodeAt(0)
  acc[x] = () => {
    begin()
    buffer[start] = v
    b.i = start + 5
    return b
  }
  return acc
}, {})

const b = Object.assign(reset, messages, {
  N: String.fromCharCode(0),
  i: 0,
  inc(x) {
    b.i += x
    return b
  },
  str(x) {
    // ASCII byte by byte: most of what a query sends (names, numbers, ids, JSON). Deno's
    // Buffer.byteLength() and write() cost several times as much for short strings.
    fit(x.length)
    let i = b.i
    for (let k = 0; k < x.length; k++) {
      const c = x.charCodeAt(k)
      if (c > 127) {
        b.i = i
        return utf8(k === 0 ? x : x.slice(k))
      }
      buffer[i++] = c
    }
    b.i = i
    return b
  },
  // Big-endian integers byte by byte, as for strings: Deno's writeUInt16BE() and writeUInt32BE()
  // validate their arguments on every call.
  i16(x) {
    fit(2)
    buffer[b.i++] = x >>> 8
    buffer[b.i++] = x
    return b
  },
  i32(x, i) {
    if (i || i === 0) {
      u32(x, i)
      return b
    }
    fit(4)
    u32(x, b.i)
    b.i += 4
    return b
  },
  z(x) {
    fit(x)
    buffer.fill(0, b.i, b.i + x)
    b.i += x
    return b
  },
  raw(x) {
    fit(x.length)
    buffer.set(x, b.i)
    b.i += x.length
    return b
  },
  end(at = 1) {
    u32(b.i - start - at, start + at)
    const out = buffer.subarray(start, b.i)
    start = b.i
    // A slab grown for a large message is not kept for the small ones after it.
    buffer.length > slab && (start = buffer.length)
    return out
  }
})

export default b

// Messages built one after another lie side by side in a slab, and stay there: joined, they are
// one view of it, with no copy. Parts that are not adjacent (a slab began between them, or one was
// built elsewhere) are copied, as Buffer.concat() copies them all.
export function join(parts) {
  const first = parts[0]
  let end = first.byteOffset + first.length
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k]
    if (part.buffer !== first.buffer || part.byteOffset !== end)
      return Buffer.concat(parts)
    end += part.length
  }
  return parts.length === 1 ? first : Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset)
}

function u32(x, i) {
  buffer[i] = x >>> 24
  buffer[i + 1] = x >>> 16
  buffer[i + 2] = x >>> 8
  buffer[i + 3] = x
}

function utf8(x) {
  const length = Buffer.byteLength(x)
  fit(length)
  b.i += buffer.write(x, b.i, length, 'utf8')
  return b
}

function fit(x) {
  if (buffer.length - b.i < x) {
    const prev = buffer
    buffer = Buffer.allocUnsafe(Math.max(slab, b.i + x + ((b.i - start) >> 1)))
    prev.copy(buffer, start, start, b.i)
  }
}

// A new message: a new slab when this one has less than `size` left.
function begin() {
  if (buffer.length - start < size) {
    buffer = Buffer.allocUnsafe(slab)
    start = 0
  }
}

function reset() {
  begin()
  b.i = start
  return b
}
