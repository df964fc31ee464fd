export default class Result extends Array {
  constructor() {
    super()
    Object.defineProperties(this, {
      count: { value: null, writable: true },
      state: { value: null, writable: true },
      command: { value: null, writable: true },
      columns: { value: null, writable: true },
      statement: { value: null, writable: true }
    })
  }
}

// `map()` and friends make plain arrays. A data property, not a static getter, so V8 can optimise
// the constructor (see query.js).
Object.defineProperty(Result, Symbol.species, { value: Array })
