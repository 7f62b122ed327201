import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { badEntryName, canonicalInRoot, resolveInRoot } from "../../../src/etc/paths.ts";
import { makeRoot } from "./fixtures.ts";

test("names that escape /etc or would corrupt .clean are refused", () => {
  for (const bad of ["../passwd", "a/../../b", "/etc/passwd", "a//b", "./a", "a/.", "", "x\ny", "x\0y"]) {
    assert.ok(badEntryName(bad), `refused: ${JSON.stringify(bad)}`);
  }
  for (const good of ["passwd", "ssh/sshd_config", "a..b", ".hidden", "systemd/system/foo@.service"]) {
    assert.is(badEntryName(good), undefined, good);
  }
});

test("absolute symlinks resolve inside the root, never on the host", () => {
  const root = makeRoot();
  mkdirSync(join(root, "persist/ssh"), { recursive: true });
  symlinkSync("/persist/ssh", join(root, "etc/ssh"));
  symlinkSync("../../..", join(root, "etc/up"));
  assert.is(resolveInRoot(root, "/etc/ssh/sshd_config"), `${root}/persist/ssh/sshd_config`);
  assert.is(canonicalInRoot(root, "/etc/up/etc"), "/etc", "`..` stops at the root");
  assert.is(resolveInRoot(root, "/etc/ssh", false), `${root}/etc/ssh`, "the last component is not followed when asked");
});

test("symlink loops are reported, not followed forever", () => {
  const root = makeRoot();
  symlinkSync("/etc/b", join(root, "etc/a"));
  symlinkSync("/etc/a", join(root, "etc/b"));
  assert.throws(() => resolveInRoot(root, "/etc/a/x"), /too many levels/);
});

test.run();
