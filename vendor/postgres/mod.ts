/**
 * postgres.js 3.4.9, vendored (see ../README.md): the driver's entry, typed
 * with its own declarations.
 *
 * @module
 */
// @ts-types="./types/index.d.ts"
import postgres from "./src/index.js";

export default postgres;
