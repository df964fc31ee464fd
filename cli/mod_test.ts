import assert from "node:assert/strict";
import { commandLine } from "./mod.ts";

Deno.test("commandLine() masks passwords, given as an option or positionally", () => {
  assert.equal(
    commandLine("users", ["create", "a@b.c", "--password", "hunter22!", "--superuser"]),
    "tusk users create a@b.c --password *** --superuser",
  );
  assert.equal(
    commandLine("users", ["create", "a@b.c", "--password=hunter22!"]),
    "tusk users create a@b.c --password=***",
  );
  assert.equal(
    commandLine("users", ["reset-password", "a@b.c", "hunter22!"]),
    "tusk users reset-password a@b.c ***",
  );
  assert.equal(commandLine("flags", ["set", "FF_X", "on"]), "tusk flags set FF_X on");
});
