const originCache = new Map()
    , originStackCache = new Map()
    , originError = Symbol('OriginError')

export const CLOSE = {}

// The promise's resolving functions, handed from the executor to the constructor, which keeps them
// as two fields. Neither closures made in the constructor nor an object literal: V8 may allocate
// either in the old generation, and then each query and all it references outlived the next
// young-generation collections (see vendor/README.md).
let settleResolve = null
  , settleReject = null
function captureSettlers(resolve, reject) {
  settleResolve = resolve
  settleReject = reject
}

export class Query extends Promise {
  constructor(strings, args, handler, canceller, options = {}) {
    super(captureSettlers)
    this.settleResolve = settleResolve
    this.settleReject = settleReject
    settleResolve = settleReject = null

    this.tagged = Array.isArray(strings.raw)
    this.strings = strings
    this.args = args
    this.handler = handler
    this.canceller = canceller
    this.options = options

    this.state = null
    this.statement = null

    this.active = false
    this.cancelled = null
    this.executed = false
    this.signature = ''
    this.localName = null
    this.localValue = null
    this.localPending = false

    this[originError] = this.handler.debug
      ? new Error()
      : this.tagged && cachedError(this.strings)
  }

  resolve(x) {
    this.active = false
    this.settleResolve(x)
  }

  reject(x) {
    this.active = false
    this.settleReject(x)
  }

  get origin() {
    return (this.handler.debug
      ? this[originError].stack
      : this.tagged && originStackCache.has(this.strings)
        ? originStackCache.get(this.strings)
        : originStackCache.set(this.strings, this[originError].stack).get(this.strings)
    ) || ''
  }

  // Sets `name` to `value` for this statement only (set_config(name, value, true) in the same
  // implicit transaction, sent with it: no round trip of its own). Inside sql.begin() it lasts
  // until the transaction ends.
  setLocal(name, value) {
    if (typeof name !== 'string' || typeof value !== 'string')
      throw new TypeError('setLocal(name, value) takes two strings')
    this.localName = name
    this.localValue = value
    return this
  }

  cancel() {
    return this.canceller && (this.canceller(this), this.canceller = null)
  }

  simple() {
    this.options.simple = true
    this.options.prepare = false
    return this
  }

  async readable() {
    this.simple()
    this.streaming = true
    return this
  }

  async writable() {
    this.simple()
    this.streaming = true
    return this
  }

  cursor(rows = 1, fn) {
    this.options.simple = false
    if (typeof rows === 'function') {
      fn = rows
      rows = 1
    }

    this.cursorRows = rows

    if (typeof fn === 'function')
      return (this.cursorFn = fn, this)

    let prev
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          if (this.executed && !this.active)
            return { done: true }

          prev && prev()
          const promise = new Promise((resolve, reject) => {
            this.cursorFn = value => {
              resolve({ value, done: false })
              return new Promise(r => prev = r)
            }
            this.resolve = () => (this.active = false, resolve({ done: true }))
            this.reject = x => (this.active = false, reject(x))
          })
          this.execute()
          return promise
        },
        return() {
          prev && prev(CLOSE)
          return { done: true }
        }
      })
    }
  }

  describe() {
    this.options.simple = false
    this.onlyDescribe = this.options.prepare = true
    return this
  }

  stream() {
    throw new Error('.stream has been renamed to .forEach')
  }

  forEach(fn) {
    this.forEachFn = fn
    this.handle()
    return this
  }

  raw() {
    this.isRaw = true
    return this
  }

  values() {
    this.isRaw = 'values'
    return this
  }

  async handle() {
    !this.executed && (this.executed = true) && await 1 && this.handler(this)
  }

  execute() {
    this.handle()
    return this
  }

  then() {
    this.handle()
    return super.then.apply(this, arguments)
  }

  catch() {
    this.handle()
    return super.catch.apply(this, arguments)
  }

  finally() {
    this.handle()
    return super.finally.apply(this, arguments)
  }
}

// `then()` and friends make plain promises. A data property, not a static getter: V8's Maglev
// aborted every compile of a constructor whose class has a getter for Symbol.species, so the
// constructor stayed in the interpreter (see vendor/README.md).
Object.defineProperty(Query, Symbol.species, { value: Promise })

function cachedError(xs) {
  if (originCache.has(xs))
    return originCache.get(xs)

  const x = Error.stackTraceLimit
  Error.stackTraceLimit = 4
  originCache.set(xs, new Error())
  Error.stackTraceLimit = x
  return originCache.get(xs)
}
