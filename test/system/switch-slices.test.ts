/**
 * switch-test.nix, ported: "slices", with NixOS's exact output checks. (The switch helper's
 * switch-slices.test.ts, which replaced an earlier copy of this file, reads MemoryMax back only.)
 * A slice allowing no memory makes a service in it fail to start; after the switch drops the
 * limit (applied by daemon-reload: slices are never restarted, nothing is printed), the service
 * starts. NixOS first allows OOMing (vm.panic_on_oom=0); /proc/sys is read-only in the
 * container, so it is only checked to be 0 already.
 *
 * Emulated: on this cgroup-v1 host nspawn gives the container no writable memory controller, so
 * MemoryMax=1 cannot make the service fail here. The limit is checked as systemd sees it
 * (MemoryMax of the slice: 1, then infinity after the switch, without a restart), and the
 * "cannot start in this slice" half is expressed by a slice-level AssertPathExists= on a missing
 * path, dropped together with the limit.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertLacks, assertOnly, bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("port-slices"));
});
test.after(async () => {
  await c?.halt();
});

function slice(name: string, sliceConfig: string, unitConfig = ""): GenerationSpec {
  return {
    name,
    units: {
      "testslice.slice": `[Unit]\n${unitConfig}[Slice]\n${sliceConfig}`,
      "testservice.service": "[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nSlice=testslice.slice\n",
    },
  };
}

test("slices", () => {
  switchTo(c, { name: "base" }); // a well-known state after boot, as NixOS's test switches to "" first
  assert.is(c.must("cat /proc/sys/vm/panic_on_oom").trim(), "0", "OOMing allowed");
  let out = switchTo(c, slice("slice", "MemoryMax=1\n", "AssertPathExists=/stagehand-no-memory\n"));
  // assert_lacks(out, "stopping the following units:") not relevant (NixOS)
  assertLacks(out, "NOT restarting the following changed units:");
  assertLacks(out, "reloading the following units:");
  assertLacks(out, "\nrestarting the following units:");
  assertLacks(out, "\nstarting the following units:");
  assertLacks(out, "the following new units were started:");
  assert.is(show(c, "testslice.slice", ["MemoryMax"]).MemoryMax, "1");
  assert.is.not(c.sh("systemctl start testservice.service").status, 0, "the slice's limit is in force");

  out = switchTo(c, slice("sliceModified", ""));
  assertOnly(out, {});
  assert.is(show(c, "testslice.slice", ["MemoryMax"]).MemoryMax, "infinity");
  assert.is(c.sh("systemctl start testservice.service").status, 0, "the limit is gone after the switch");
});

test.run();
