/**
 * switch-test.nix, ported: "mounts" (systemd.mounts units) and "fstab mounts" (fileSystems,
 * through /etc/fstab and systemd-fstab-generator, which runs in the container as on NixOS).
 * The "/" entry: NixOS's VM has one in fstab; here the base fstab gets an equivalent entry
 * marked noauto (so the generator leaves the container's root alone), and changing its device
 * must be "NOT restarting ... -.mount", as ng's rule for / and /nix says. The container gets the
 * host's /dev/autofs (systemd only supports automounts where that device exists).
 */
import { existsSync, readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, assertOnly, runSwitch, show, switchTo } from "./switch-helpers.ts";
import { bootSwitchMachineWith, build } from "./switch-port-helpers.ts";

/**
 * Whether this kernel has autofs. Without it systemd cannot run an automount (some kernels are built
 * without it), and the automount case checks the plan only.
 */
const HAS_AUTOFS = readFileSync("/proc/filesystems", "utf8").split("\n").some((l) => l.endsWith("\tautofs")) && existsSync("/dev/autofs");

/**
 * systemd's own test suite's workaround for systemd#30573 (its PR #30714): PID 1 can stop answering
 * D-Bus for about 90 s right after its mount-event rate limit (5 a second) lets go, until another
 * event wakes it. This file's switches restart mounts back to back and tripped it about once in 125
 * runs (a StartUnit with no reply for 114 s; its bus traffic and stagehand's were as they should
 * be). The limit is raised so these tests check the switch, not that bug; docs/switch.md says what a
 * user who meets it sees.
 */
const MOUNT_RATE_LIMIT = "--setenv=SYSTEMD_DEFAULT_MOUNT_RATE_LIMIT_BURST=1000";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachineWith("mounts", [MOUNT_RATE_LIMIT, ...(HAS_AUTOFS ? ["--bind=/dev/autofs"] : [])]));
});
test.after(async () => {
  await c?.halt();
});

function mount(name: string, what: string, type: string, options: string): GenerationSpec {
  return {
    name,
    units: { "testmount.mount": `[Unit]\nDescription=Testmount\n[Mount]\nWhat=${what}\nType=${type}\nWhere=/testmount\nOptions=${options}\n` },
    wantedBy: { "testmount.mount": ["local-fs.target"] },
  };
}

const mountLine = (where: string) => c.must(`mount | grep 'on ${where} '`);

test("mounts", () => {
  switchTo(c, mount("mount", "tmpfs", "tmpfs", "size=1M"));
  assertContains(mountLine("/testmount"), "size=1024k");
  const id = show(c, "testmount.mount", ["InvocationID"]).InvocationID;
  // Changing options reloads the unit
  let out = switchTo(c, mount("mountOptionsModified", "tmpfs", "tmpfs", "size=10M"));
  assertOnly(out, { reload: "testmount.mount" });
  // It changed (remounted, the same mount)
  assertContains(mountLine("/testmount"), "size=10240k");
  assert.is(show(c, "testmount.mount", ["InvocationID"]).InvocationID, id, "reloaded, not restarted");
  // Changing anything but `Options=` restarts the unit
  out = switchTo(c, mount("mountModified", "ramfs", "ramfs", "size=10M"));
  assertOnly(out, { restart: "testmount.mount" });
  // It changed
  assertContains(mountLine("/testmount"), "ramfs");
  assert.is.not(show(c, "testmount.mount", ["InvocationID"]).InvocationID, id, "restarted");
  const r = runSwitch(c, build(c, { name: "base" }));
  assert.is(r.status, 0, `removing testmount.mount failed:\n${r.out}\n${c.sh("journalctl -b --no-pager -n 60; mount | grep testmount").stdout}`);
  assertOnly(r.out, { stop: "testmount.mount" });
  assert.is(c.sh("mount | grep -q 'on /testmount '").status, 1, "unmounted when removed");
});

const ROOT = "/dev/stagehand-root / auto noauto 0 0\n";
const fstab = (name: string, extra = "", root = ROOT): GenerationSpec => ({ name, fstab: `${root}${extra}` });

test("fstab mounts", () => {
  const base = fstab("fstabBase");
  switchTo(c, base);
  // add a mountpoint
  let out = switchTo(c, fstab("addedMount", "tmpfs /test tmpfs defaults 0 0\n"));
  assertOnly(out, { new: "test.mount" });
  assertContains(mountLine("/test"), "tmpfs");
  // modify the mountpoint's options
  out = switchTo(c, fstab("addedMountOptsModified", "tmpfs /test tmpfs x-test 0 0\n"));
  assertOnly(out, { reload: "test.mount" });
  // modify the device
  const id = show(c, "test.mount", ["InvocationID"]).InvocationID;
  out = switchTo(c, fstab("addedMountDevModified", "ramfs /test tmpfs x-test 0 0\n"));
  assertOnly(out, { restart: "test.mount" });
  assert.is.not(show(c, "test.mount", ["InvocationID"]).InvocationID, id, "restarted");
  assertContains(mountLine("/test"), "ramfs on /test");
  // modify both
  out = switchTo(c, fstab("addedMount", "tmpfs /test tmpfs defaults 0 0\n"));
  assertOnly(out, { restart: "test.mount" });
  // remove the mount
  out = switchTo(c, base);
  assertOnly(out, { stop: "test.mount" });
  assert.is(c.sh("mount | grep -q 'on /test '").status, 1, "unmounted");
  // change something about the / mount
  out = switchTo(c, fstab("storeMountModified", "", "auto / auto noauto 0 0\n"));
  assertOnly(out, { skip: "-.mount" });
  assertContains(out, "NOT restarting the following changed units: -.mount");
  // add an automount
  const automount = fstab("automount", "tmpfs /testauto tmpfs x-systemd.automount 0 0\n");
  // Without autofs, starting the automount fails, fails local-fs.target and sends the machine to
  // emergency.target, as it would a NixOS machine on such a kernel: only the plan is checked then.
  out = switchTo(c, automount, HAS_AUTOFS ? "test" : "dry-activate");
  assertLacks(out, "stopping the following units:");
  assertLacks(out, "\nrestarting the following units:");
  assertLacks(out, "\nstarting the following units:");
  if (!HAS_AUTOFS) {
    for (const l of ["would stop", "would restart", "would start"]) assertLacks(out, l);
    console.log("note: this kernel has no autofs (/proc/filesystems): the automount's start and stop were not run");
    return;
  }
  assertContains(out, "the following new units were started: testauto.automount\n");
  assert.is(show(c, "testauto.automount", ["ActiveState"]).ActiveState, "active");
  c.must("ls /testauto"); // triggers the mount
  assertContains(mountLine("/testauto"), "tmpfs on /testauto");
  // remove the automount
  out = switchTo(c, base);
  assertOnly(out, { stop: "testauto.automount" });
  assert.is(show(c, "testauto.automount", ["ActiveState"]).ActiveState, "inactive");
});

test("/ and /nix are reloaded, never restarted", () => {
  // fstab: a changed option of / remounts it ("reload"), never unmounts it. Checked with
  // dry-activate: the container's / is an overlayfs that cannot be remounted from an fstab line.
  switchTo(c, fstab("fstabBase"));
  let out = switchTo(c, fstab("rootOptionsModified", "", "/dev/stagehand-root / auto noauto,x-test 0 0\n"), "dry-activate");
  assertContains(out, "would reload the following units: -.mount\n");
  for (const l of ["would stop", "would restart", "would start", "would NOT"]) assertLacks(out, l);

  // units: a changed nix.mount (here /nix bind-mounted onto itself, so the store stays visible)
  // is reloaded where any other mount would be restarted
  const nixMount = (name: string, extra = "") => ({
    name,
    units: { "nix.mount": `[Unit]\n${extra}[Mount]\nWhat=/nix\nWhere=/nix\nType=none\nOptions=bind\n` },
    wantedBy: { "nix.mount": ["local-fs.target"] },
    fstab: ROOT,
  });
  out = switchTo(c, nixMount("nixMount"));
  assertOnly(out, { new: "nix.mount" });
  const id = show(c, "nix.mount", ["InvocationID"]).InvocationID;
  out = switchTo(c, nixMount("nixMountModified", "X-Test=true\n"));
  assertOnly(out, { reload: "nix.mount" });
  assert.is(show(c, "nix.mount", ["InvocationID", "ActiveState"]).InvocationID, id, "not restarted");
  assert.is(show(c, "nix.mount", ["ActiveState"]).ActiveState, "active");
});

test.run();
