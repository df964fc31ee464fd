// What a browser app imports: the OpenFeature web SDK and its OFREP provider, bundled for the
// browser check by `deno bundle` (tests/flags/browser_check.ts).
import { OpenFeature } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";

Object.assign(globalThis, { OpenFeature, OFREPWebProvider });
