/** switch-test.nix, ported: "timers". Restarted = the timer got a new ActiveEnterTimestamp. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { assertContains, assertOnly, bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";
import { timer, timerModified } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("timers"));
});
test.after(async () => {
  await c?.halt();
});

test("timers", () => {
  switchTo(c, timer);
  assertContains(c.must("systemctl show test-timer.timer"), "OnCalendar=2014-03-25 02:59:56 UTC");
  const before = show(c, "test-timer.timer", ["ActiveEnterTimestampMonotonic", "InvocationID"]);
  const out = switchTo(c, timerModified);
  assertOnly(out, { restart: "test-timer.timer" });
  // It changed
  assertContains(c.must("systemctl show test-timer.timer"), "OnCalendar=Fri 2012-11-23 16:00:00");
  const after = show(c, "test-timer.timer", ["ActiveEnterTimestampMonotonic", "InvocationID", "ActiveState"]);
  assert.is(after.ActiveState, "active");
  assert.is.not(after.ActiveEnterTimestampMonotonic, before.ActiveEnterTimestampMonotonic, "restarted");
});

test.run();
