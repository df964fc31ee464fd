/**
 * The console serves `lib/live_events.ts` bundled for browsers
 * (`console/assets/live_events.js`); the two must not drift apart.
 */
import assert from "node:assert/strict";

Deno.test("console/assets/live_events.js is lib/live_events.ts as `deno task build:client` bundles it", async () => {
  const root = new URL("../../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "lib/live_events.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const committed = await Deno.readTextFile(new URL("console/assets/live_events.js", root));
  assert.equal(
    committed,
    new TextDecoder().decode(out.stdout),
    "run deno task build:client and commit the result",
  );
});
