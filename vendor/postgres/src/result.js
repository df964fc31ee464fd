// The result's facts are private fields behind accessors: like the non-enumerable properties
// Object.defineProperties() made before, they stay out of Object.keys(), JSON and deep
// comparisons, and a Result is made in a tenth of the time (see vendor/README.md).
export default class Result extends Array {
  #count = null
  #state = null
  #command = null
  #columns = null
  #statement = null

  get count() { return this.#count }
  set count(x) { this.#count = x }
  get state() { return this.#state }
  set state(x) { this.#state = x }
  get command() { return this.#command }
  set command(x) { this.#command = x }
  get columns() { return this.#columns }
  set columns(x) { this.#columns = x }
  get statement() { return this.#statement }
  set statement(x) { this.#statement = x }
}

// `map()` and friends make plain arrays. A data property, not a static getter, so V8 can optimise
// the constructor (see query.js).
Object.defineProperty(Result, Symbol.species, { value: Array })
