/**
 * switch-test.nix, ported: "swaps" (swapDevices = [{ device = "/swapfile"; size = 1; }]).
 *
 * Emulated, and only in part: a container cannot swap. swapon(2) of a swap file here fails
 * with EINVAL (the root is overlayfs, /run is tmpfs, neither supports swap files) and nspawn
 * gives the container no loop devices to put one on; and systemd-fstab-generator skips swap
 * entries in containers, so no swapfile.swap unit exists to be started. What the switch itself
 * decides is still checked on its own printed lines: adding the fstab swap entry changes no
 * unit (NixOS's "the following new units were started: swapfile.swap" comes from the
 * generator's unit, absent here), and removing it prints "would stop swap device: /swapfile"
 * (dry-activate) and "stopping swap device: /swapfile" (switch), which calls swapoff(2)
 * directly as ng does; with no active swap it reports the error and carries on (exit 0).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, assertOnly, bootSwitchMachine, switchTo } from "./switch-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("swaps"));
  // NixOS's mkswap-swapfile service prepares the file; the container cannot activate it.
  c.must("dd if=/dev/zero of=/swapfile bs=1M count=1 status=none && chmod 600 /swapfile && mkswap /swapfile >/dev/null");
});
test.after(async () => {
  await c?.halt();
});

const swap: GenerationSpec = { name: "swap", fstab: "/swapfile none swap defaults 0 0\n" };
const base: GenerationSpec = { name: "base" };

test("swaps", () => {
  switchTo(c, { name: "base" }); // a well-known state after boot, as NixOS's test switches to "" first
  assert.is.not(c.sh("swapon /swapfile").status, 0, "the container cannot swap (else port this test fully)");
  // add a swap
  let out = switchTo(c, swap);
  assertOnly(out, {});
  assert.is(c.sh("test -e /run/systemd/generator/swapfile.swap").status, 1, "no generated swap unit in a container");
  // remove it: dry-activate says what it would do and does nothing
  out = switchTo(c, base, "dry-activate");
  assertContains(out, "would stop swap device: /swapfile\n");
  assertLacks(out, "stopping swap device");
  assertOnly(out, {});
  // remove it
  out = switchTo(c, base);
  assertContains(out, "stopping swap device: /swapfile\n");
  assertContains(out, "Failed to stop swapping to /swapfile: ");
  assertOnly(out, {});
  // once gone from /etc/fstab, nothing more is stopped
  assertLacks(switchTo(c, base), "swap device");
});

test.run();
