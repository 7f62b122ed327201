/**
 * switch-test.nix, ported: "systemd restarts". A changed system.conf makes the switch re-execute
 * systemd (PID 1 stays PID 1); the re-exec is observed in PID 1's journal ("Reexecuting.") and
 * the new setting is in force afterwards.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { assertContains, assertLacks, bootSwitchMachine, switchTo } from "./switch-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("systemd-restart"));
});
test.after(async () => {
  await c?.halt();
});

const reexecs = () => Number(c.sh("journalctl -b -o cat _PID=1 | grep -c '^Reexecuting'").stdout.trim() || "0");

test("systemd restarts", () => {
  assertLacks(switchTo(c, { name: "base" }), "restarting systemd...");
  const n = reexecs();
  // systemd is restarted when its system.conf changes
  const out = switchTo(c, { name: "modifiedSystemConf", systemConf: "[Manager]\nDefaultEnvironment=XXX_SYSTEM=foo\n" });
  assertContains(out, "restarting systemd...");
  assert.ok(reexecs() > n, "PID 1 re-executed");
  assertContains(c.must("systemctl show-environment"), "XXX_SYSTEM=foo");
  assert.is(c.sh("systemctl is-system-running").stdout.trim(), "running");
  // ...and only when it changes
  assertLacks(switchTo(c, { name: "modifiedSystemConf", systemConf: "[Manager]\nDefaultEnvironment=XXX_SYSTEM=foo\n" }), "restarting systemd...");
});

test.run();
