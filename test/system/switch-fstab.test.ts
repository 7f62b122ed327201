/**
 * switch-test.nix, ported (part 6): "fstab mounts" and "dbus reloads"; "generators". Mounts come
 * from the generation's etc/fstab through systemd-fstab-generator, as on NixOS. Not ported:
 * the "storeMountModified" step ("/" or "/nix" device changed => "NOT restarting ... -.mount"): in
 * the container, an fstab line for "/" or "/nix" makes local-fs.target fail, and its OnFailure
 * isolates emergency.target, killing D-Bus; nor the automount steps (autofs cannot be mounted
 * in the container, with the same result). Both rules are covered by the planner's unit tests.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertOnly, bootSwitchMachine, nixos, runSwitch, show, switchTo } from "./switch-helpers.ts";

let c: Container;

test.before(async () => {
  ({ c } = await bootSwitchMachine("fstab"));
});
test.after(async () => {
  await c?.halt();
});

const ROOT = "";
const fs = (name: string, lines: string, root = ROOT): GenerationSpec => ({ name, fstab: root + lines });
const base = fs("base", "");
const addedMount = fs("addedMount", "tmpfs /test tmpfs defaults 0 0\n");
const addedMountOptsModified = fs("addedMountOptsModified", "tmpfs /test tmpfs x-test 0 0\n");
const addedMountDevModified = fs("addedMountDevModified", "ramfs /test tmpfs x-test 0 0\n");

test("fstab mounts", () => {
  switchTo(c, base);
  let out = switchTo(c, addedMount);
  assertOnly(out, { new: "test.mount" });
  assert.is(show(c, "test.mount", ["ActiveState"]).ActiveState, "active");
  out = switchTo(c, addedMountOptsModified);
  assertOnly(out, { reload: "test.mount" });
  out = switchTo(c, addedMountDevModified);
  assertOnly(out, { restart: "test.mount" });
  out = switchTo(c, addedMount);
  assertOnly(out, { restart: "test.mount" });
  // In nspawn, systemd's umount helper sometimes cannot join the mount's cgroup
  // ("status=219/CGROUP", a container quirk, not the switch's): then the stop job fails and the
  // switch rightly says so (exit 4). Accept exactly that case, and finish the unmount by hand.
  const removed = runSwitch(c, buildGeneration(c.root, nixos(base)), "test");
  assertOnly(removed.out, { stop: "test.mount" });
  if (removed.status !== 0) {
    assert.is(removed.status, 4, removed.out);
    assertContains(removed.out, "Failed to stop test.mount\n");
    assertContains(c.must("journalctl -u test.mount --no-pager -o cat"), "status=219/CGROUP");
    c.must("systemctl stop test.mount || umount /test");
  }
  assert.is(show(c, "test.mount", ["ActiveState"]).ActiveState, "inactive");
});

test("generators: generated units are left alone", () => {
  // A generator in /etc/systemd/system-generators (NixOS links systemd.generators there).
  c.writeFile("/etc/systemd/system-generators/simple-generator", "#!/bin/sh\ncat > \"$1/simple-generated.service\" <<EOF\n[Service]\nExecStart=/bin/sleep infinity\nEOF\n", 0o755);
  switchTo(c, base);
  c.must("systemctl start simple-generated.service && systemctl is-active simple-generated.service");
  const before = show(c, "simple-generated.service", ["InvocationID"]).InvocationID;
  switchTo(c, fs("other", "tmpfs /test2 tmpfs defaults 0 0\n"));
  c.must("systemctl is-active simple-generated.service");
  assert.is(show(c, "simple-generated.service", ["InvocationID"]).InvocationID, before);
});

test("dbus reloads", () => {
  // NixOS's dbus.service has reloadIfChanged; a changed restart trigger makes it a reload.
  const dbus = c.must("cat /usr/lib/systemd/system/dbus.service");
  const spec = (name: string, trigger: string): GenerationSpec => ({ ...base, name, units: { "dbus.service": dbus.replace("[Service]\n", `[Service]\nX-ReloadIfChanged=true\n`).replace("[Unit]\n", `[Unit]\nX-Restart-Triggers=${trigger}\n`) } });
  switchTo(c, spec("dbusBase", "a"));
  const pid = show(c, "dbus.service", ["MainPID"]).MainPID;
  const out = switchTo(c, spec("dbusReload", "b"));
  assertContains(out, "reloading the following units: dbus.service\n");
  assert.is(show(c, "dbus.service", ["MainPID"]).MainPID, pid, "reloaded, not restarted");
});

test.run();
