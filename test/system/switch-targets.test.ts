/**
 * switch-test.nix, ported: "targets" (it starts where "timers" left off, on timerModified).
 * Targets are filtered from the output, so test-service.service (BindsTo the target) tells
 * whether the target was restarted.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertOnly, bootSwitchMachine, switchTo } from "./switch-helpers.ts";
import { timerModified, upstreamUnit } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("targets"));
});
test.after(async () => {
  await c?.halt();
});

function target(name: string, extraUnit = ""): GenerationSpec {
  return {
    name,
    units: {
      "test-target.target": `[Unit]\n${extraUnit}`,
      "test-service.service": "[Unit]\nBindsTo=test-target.target\n[Service]\nExecStart=/bin/sleep infinity\n",
    },
    wantedBy: { "test-target.target": ["multi-user.target"] },
  };
}

const isActive = (u: string) => c.sh(`systemctl is-active ${u}`).status === 0;

test("targets", () => {
  switchTo(c, timerModified);
  // Modifying some special targets like hybrid-sleep.target does nothing
  const hybridSleepModified: GenerationSpec = {
    name: "hybridSleepModified",
    units: { "hybrid-sleep.target": upstreamUnit(c, "hybrid-sleep.target").replace("[Unit]\n", "[Unit]\nX-Test=true\n") },
  };
  let out = switchTo(c, hybridSleepModified);
  assertOnly(out, { stop: "test-timer.timer" });

  // Adding a new target starts it
  out = switchTo(c, target("target"));
  assertOnly(out, { new: "test-target.target" });
  assert.ok(isActive("test-target.target"));

  // Changing a target doesn't print anything because the unit is filtered
  c.must("systemctl start test-service.service");
  out = switchTo(c, target("targetModified", "X-Test=true\n"));
  assertOnly(out, {});
  assert.ok(isActive("test-service.service"), "target was not restarted");

  // With X-StopOnReconfiguration, the target gets stopped and started. (NixOS's test checks a
  // misspelt unit here, "test-service.servce"; the intent, checked here, is that stopping the
  // target stopped the service bound to it, and nothing started it again.)
  out = switchTo(c, target("targetModifiedStopOnReconfig", "X-StopOnReconfiguration=true\n"));
  assertOnly(out, {});
  assert.not.ok(isActive("test-service.service"), "target was restarted");
  assert.ok(isActive("test-target.target"), "and is active again");

  // Remove the target by switching to the old specialisation
  out = switchTo(c, timerModified);
  assertOnly(out, { stop: "test-target.target", new: "test-timer.timer" });
  assert.not.ok(isActive("test-target.target"));
});

test.run();
