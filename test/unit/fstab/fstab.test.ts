import { test } from "uvu";
import { spawnSync } from "node:child_process";
import * as assert from "uvu/assert";
import { automountUnitName, escapeSystemdPath, mountUnitName } from "../../../src/fstab/escape.ts";
import { parseFstab } from "../../../src/fstab/fstab.ts";

test("systemd-escape -p semantics", () => {
  assert.is(mountUnitName("/"), "-.mount");
  assert.is(mountUnitName("/nix"), "nix.mount");
  assert.is(mountUnitName("/test"), "test.mount");
  assert.is(mountUnitName("/mnt/my-data"), "mnt-my\\x2ddata.mount");
  assert.is(mountUnitName("//var//lib/"), "var-lib.mount");
  assert.is(escapeSystemdPath("/.hidden/a.b"), "\\x2ehidden-a.b");
  assert.is(escapeSystemdPath("/with space/ü"), "with\\x20space-\\xc3\\xbc");
  assert.is(escapeSystemdPath("/a:b_c\\d"), "a:b_c\\x5cd");
  assert.is(automountUnitName("/testauto"), "testauto.automount");
});

test("matches systemd-escape -p --suffix=mount (the host's systemd, installed by setup-host.sh)", () => {
  const paths = ["/", "/nix", "/nix/store", "/mnt/my-data", "/.hidden/a.b", "/with space/ü", "//var//lib/", "/a:b_c\\d", "/x/-y-/z.", "/boot/efi", "/run/user/1000", "/tmp/ä€😀", "/a/./b", "/a+b=c@d"];
  const r = spawnSync("systemd-escape", ["-p", "--suffix=mount", "--", ...paths], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.equal(paths.map(mountUnitName), r.stdout.trim().split(" "));
});

test("fstab parsing as ng: # lines skipped, short lines skipped, swaps by device", () => {
  const f = parseFstab("# comment\n/dev/sda1 / ext4 defaults 0 1\n\ntmpfs /test tmpfs x-test # trailing\nshort line\n/swapfile none swap defaults\nram /r ramfs\n");
  assert.equal(Object.keys(f.filesystems), ["/", "/r"]);
  assert.is(f.filesystems["/"]!.options, "defaults");
  assert.is(f.filesystems["/r"]!.options, "");
  assert.equal(Object.keys(f.swaps), ["/swapfile"]);
});

test.run();
