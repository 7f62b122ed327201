/** addedMount*, storeMountModified, automount and swap of switch-test.nix, as dry-activate lines. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { dryLines } from "../helpers.ts";

const ACT = "would activate the configuration...";
const BASE = "/dev/vda / ext4 x-initrd.mount 0 1\nstore /nix/store 9p trans=virtio 0 0\n";
const fs = (extra = "") => BASE + extra;
const plan = (oldF: string, newF: string) => dryLines({}, {}, {}, { oldFstab: oldF, newFstab: newF });

test("addedMount: a new fstab entry is mounted by local-fs.target, not by the plan", () => {
  assert.equal(plan(fs(), fs("tmpfs /test tmpfs defaults 0 0\n")), [ACT]);
});

test("addedMountOptsModified: options changed => reload", () => {
  assert.equal(plan(fs("tmpfs /test tmpfs defaults 0 0\n"), fs("tmpfs /test tmpfs x-test 0 0\n")), [ACT, "would reload the following units: test.mount"]);
});

test("addedMountDevModified and back: device or type changed => restart", () => {
  assert.equal(plan(fs("tmpfs /test tmpfs x-test 0 0\n"), fs("ramfs /test tmpfs x-test 0 0\n")), [ACT, "would restart the following units: test.mount"]);
  assert.equal(plan(fs("ramfs /test tmpfs x-test 0 0\n"), fs("tmpfs /test tmpfs defaults 0 0\n")), [ACT, "would restart the following units: test.mount"]);
});

test("removed mount => stop; removed automount => stop the automount", () => {
  assert.equal(plan(fs("tmpfs /test tmpfs defaults 0 0\n"), fs()), ["would stop the following units: test.mount", ACT]);
  assert.equal(plan(fs("tmpfs /testauto tmpfs x-systemd.automount 0 0\n"), fs()), ["would stop the following units: testauto.automount", ACT]);
  assert.equal(plan(fs("/dev/sdb1 /mnt/my-data ext4 defaults 0 0\n"), fs()), ["would stop the following units: mnt-my\\x2ddata.mount", ACT]);
});

test("storeMountModified: / and /nix are never restarted; with options changed they are remounted", () => {
  assert.equal(plan(fs(), fs().replace("/dev/vda", "auto")), ["would NOT stop the following changed units: -.mount", ACT]);
  assert.equal(plan("/dev/a /nix ext4 defaults 0 0\n", "/dev/b /nix ext4 noatime 0 0\n"), [ACT, "would reload the following units: nix.mount"]);
});

test("swap: a removed swap device is listed first; added swaps start via swap.target", () => {
  assert.equal(plan(fs("/swapfile none swap defaults 0 0\n"), fs()), ["would stop swap device: /swapfile", ACT]);
  assert.equal(plan(fs(), fs("/swapfile none swap defaults 0 0\n")), [ACT]);
});

test("a missing fstab on either side is read as empty", () => {
  // (as in ng: every old entry then counts as removed)
  assert.equal(dryLines({}, {}, {}, { oldFstab: fs("tmpfs /test tmpfs defaults 0 0\n") }), ["would stop the following units: -.mount, nix-store.mount, test.mount", ACT]);
  assert.equal(dryLines({}, {}, {}, {}), [ACT]);
});

test.run();
