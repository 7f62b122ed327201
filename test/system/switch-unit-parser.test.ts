/**
 * switch-test.nix, ported: "unit file parser". NixOS's `systemd.packages` unit merged with the
 * module's own definition becomes, as in NixOS, the package's file as test.service plus the
 * module's settings as the drop-in test.service.d/overrides.conf. Restarted = new InvocationID.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertOnly, bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";
import { simpleServiceUnit } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("unit-parser"));
});
test.after(async () => {
  await c?.halt();
});

const NOSTOP = "X-StopIfChanged=false\n";
const RELOAD_TRACE = "ExecReload=/bin/sh -c 'echo reload >> /run/test-reloads'\n";

/** simpleServiceNostop with extra [Service]/[Unit] lines. */
function nostop(name: string, extraService = "", extraUnit = ""): GenerationSpec {
  return {
    name,
    units: { "test.service": simpleServiceUnit(NOSTOP + RELOAD_TRACE + extraService, extraUnit) },
    wantedBy: { "test.service": ["multi-user.target"] },
  };
}

/** simpleServiceNostop merged with a package's test.service of content `pkg`. */
function withPackage(name: string, pkg: string): GenerationSpec {
  return {
    name,
    units: { "test.service": pkg, "test.service.d/overrides.conf": simpleServiceUnit(NOSTOP + RELOAD_TRACE) },
    wantedBy: { "test.service": ["multi-user.target"] },
  };
}

const invocation = () => show(c, "test.service", ["InvocationID"]).InvocationID;
const reloads = () => c.sh("cat /run/test-reloads 2>/dev/null").stdout;

/** Switches and asserts exactly one outcome line for test.service and the matching unit state. */
function expect(spec: GenerationSpec, what: "restart" | "reload" | "nothing"): void {
  const id = invocation();
  const r = reloads();
  const out = switchTo(c, spec);
  if (what === "nothing") assertOnly(out, {});
  else assertOnly(out, { [what]: "test.service" });
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "active");
  if (what === "restart") assert.is.not(invocation(), id, `${spec.name}: restarted`);
  else assert.is(invocation(), id, `${spec.name}: not restarted`);
  assert.is(reloads(), what === "reload" ? `${r}reload\n` : r, `${spec.name}: ExecReload ${what === "reload" ? "ran" : "did not run"}`);
}

test("unit file parser", () => {
  // Switch to a well-known state
  switchTo(c, nostop("simpleServiceNostop"));
  // Add a section, rename it, remove it
  expect(withPackage("simpleServiceWithExtraSection", "[X-Test]\nX-Test-Value=a\n"), "restart");
  expect(withPackage("simpleServiceWithExtraSectionOtherName", "[X-Test2]\nX-Test-Value=a\n"), "restart");
  expect(nostop("simpleServiceNostop"), "restart");
  // [Install] section is ignored
  expect(withPackage("simpleServiceWithInstallSection", "[Install]\nWantedBy=multi-user.target\n"), "nothing");
  // Add a key, change its value, rename it, remove it
  expect(nostop("simpleServiceWithExtraKey", "X-Test=test\n"), "restart");
  expect(nostop("simpleServiceWithExtraKeyOtherValue", "X-Test=test2\n"), "restart");
  expect(nostop("simpleServiceWithExtraKeyOtherName", "X-Test2=test\n"), "restart");
  expect(nostop("simpleServiceNostop"), "restart");
  // Add a reload trigger, modify it
  expect(nostop("simpleServiceReloadTrigger", "", "X-Reload-Triggers=/dev/null\n"), "reload");
  expect(nostop("simpleServiceReloadTriggerModified", "", "X-Reload-Triggers=/dev/zero\n"), "reload");
  // Modify the reload trigger and something else
  expect(nostop("simpleServiceReloadTriggerModifiedAndSomethingElse", "X-Test=test\n", "X-Reload-Triggers=/dev/zero\n"), "restart");
  // Remove the reload trigger
  expect(nostop("simpleServiceReloadTriggerModifiedSomethingElse", "X-Test=test\n"), "nothing");
});

test.run();
