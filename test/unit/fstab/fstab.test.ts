import { test } from "uvu";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

test("fields are unescaped as libmount does: \\040 \\011 \\012 \\134 and \\\\, nothing else", () => {
  const f = parseFstab("tmpfs /mnt/my\\040disk tmpfs size=1m,x\\040y 0 0\n/dev/disk/by-label/a\\040b /x\\303\\251 ext4 defaults 0 0\n/swap\\040file none swap sw\n/dev/sdz /k\\134\\\\040\\101 ext4 defaults\n");
  assert.equal(Object.keys(f.filesystems), ["/mnt/my disk", "/x\\303\\251", "/k\\\\040\\101"]);
  assert.is(f.filesystems["/mnt/my disk"]!.options, "size=1m,x y");
  assert.is(f.filesystems["/x\\303\\251"]!.device, "/dev/disk/by-label/a b");
  assert.equal(Object.keys(f.swaps), ["/swap file"]);
  assert.is(mountUnitName("/mnt/my disk"), "mnt-my\\x20disk.mount");
});

test("mount unit names match systemd-fstab-generator's for escaped fstab fields (the host's generator)", () => {
  const lines = [
    "tmpfs /mnt/my\\040disk tmpfs size=1m 0 0", "/dev/sdz1 /a\\011b\\134c ext4 noauto 0 0", "tmpfs /plain tmpfs defaults 0 0",
    "tmpfs /x\\303\\251/y tmpfs defaults 0 0", "tmpfs /with-dash/and.dot tmpfs defaults 0 0", "tmpfs /back\\\\slash tmpfs defaults 0 0",
    "tmpfs /a\\012b tmpfs defaults 0 0", "tmpfs /e\\0401 tmpfs defaults 0 0", "tmpfs /h\\ tmpfs defaults 0 0", "tmpfs /i\\\\040 tmpfs defaults 0 0",
    "tmpfs /o\\101ct tmpfs defaults 0 0", "tmpfs /u\\x41 tmpfs defaults 0 0", "tmpfs /\\134\\134 tmpfs defaults 0 0",
  ];
  const dir = mkdtempSync(join(tmpdir(), "fstab-gen-"));
  try {
    writeFileSync(join(dir, "fstab"), lines.join("\n") + "\n");
    mkdirSync(join(dir, "out"));
    const out = join(dir, "out");
    const r = spawnSync("/lib/systemd/system-generators/systemd-fstab-generator", [out, out, out], { encoding: "utf8", env: { ...process.env, SYSTEMD_FSTAB: join(dir, "fstab") } });
    assert.is(r.status, 0, r.stderr);
    const generated = readdirSync(out).filter((n) => n.endsWith(".mount")).sort();
    const ours = Object.keys(parseFstab(readFileSync(join(dir, "fstab"), "utf8")).filesystems).map(mountUnitName).sort();
    assert.equal(ours, generated);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
