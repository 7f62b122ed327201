import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readEtcTree } from "../../../src/etc/tree.ts";
import { buildEtcTree, makeRoot } from "./fixtures.ts";

test("links, direct symlinks, copies with their sidecars (chomped), directories and sidecar files", () => {
  const root = makeRoot();
  const etc = buildEtcTree(root, {
    hosts: { text: "h\n" },
    "ssh/sshd_config": { text: "Port 22\n" },
    direct: { text: "d", mode: "direct-symlink" },
    secret: { text: "s\n", mode: "0440", user: "nginx", group: "+61" },
  });
  const tree = readEtcTree(root, etc);
  assert.equal(tree.entries.map((e) => `${e.kind} ${e.name}`), [
    "direct direct", "file direct.gid", "file direct.mode", "file direct.uid", "link hosts",
    "copy secret", "file secret.gid", "file secret.mode", "file secret.uid", "directory ssh", "link ssh/sshd_config",
  ], "walk order: a directory before its contents, names bytewise");
  const secret = tree.byName.get("secret")!;
  assert.ok(secret.kind === "copy");
  if (secret.kind === "copy") {
    assert.is(secret.user, "nginx", "the .uid newline is chomped (setup-etc.pl's bug is not reproduced)");
    assert.is(secret.group, "+61");
    assert.is(secret.mode, 0o440);
    assert.is(secret.content.toString(), "s\n");
  }
  const direct = tree.byName.get("direct")!;
  assert.ok(direct.kind === "direct" && direct.source.startsWith("/nix/store/"));
});

test("a copy's source is resolved inside the root whatever its link's shape: store path, link at the store path, relative, `..`, through a linked directory", () => {
  const root = makeRoot();
  const names = ["store", "linked", "relative", "dotdot", "viadir", "missing", "dir"];
  const entries = Object.fromEntries(names.map((n) => [n, { text: `${n}\n`, mode: "0644" }]));
  const etc = buildEtcTree(root, entries);
  const at = (n: string) => join(root, etc, n);
  mkdirSync(join(root, "srv/real"), { recursive: true });
  writeFileSync(join(root, "srv/real/file"), "in the root\n");
  // The store path itself a link (absolute, so inside the root): followed inside the root.
  const linkedSource = join(root, "nix/store/linked-source");
  symlinkSync("/srv/real/file", linkedSource);
  /** The tree's link for entry `name` now points at `target`. */
  const relink = (name: string, target: string) => {
    unlinkSync(at(name));
    symlinkSync(target, at(name));
  };
  relink("linked", "/nix/store/linked-source");
  // Relative targets, and `..` climbing from the entry's own directory (never above the root).
  relink("relative", "../../../../../srv/real/file");
  relink("dotdot", "/nix/../../../srv/real/file");
  // A directory of the target that is a link: its own target resolved inside the root.
  symlinkSync("/srv/real", join(root, "srv/alias"));
  relink("viadir", "/srv/alias/file");
  relink("missing", "/nix/store/nothing-here");
  relink("dir", "/srv/real");
  const tree = readEtcTree(root, etc);
  const got = (n: string) => {
    const e = tree.byName.get(n)!;
    return e.kind === "copy" ? e.content.toString() : `${e.kind}: ${"reason" in e ? e.reason.replace(root, "ROOT") : ""}`;
  };
  assert.is(got("store"), "store\n");
  for (const n of ["linked", "relative", "dotdot", "viadir"]) assert.is(got(n), "in the root\n", n);
  assert.match(got("missing"), /^invalid: the source of the etc entry missing: ROOT\/nix\/store\/nothing-here: does not exist$/);
  assert.match(got("dir"), /^invalid: cannot copy dir: its source is not a regular file$/);
});

test("the tree path is canonical inside the root (what /etc/static will point to)", () => {
  const root = makeRoot();
  const etc = buildEtcTree(root, { hosts: { text: "h\n" } });
  mkdirSync(join(root, "nix/store/sys"), { recursive: true });
  symlinkSync(etc, join(root, "nix/store/sys/etc"));
  assert.is(readEtcTree(root, "/nix/store/sys/etc").path, etc);
});

test("a missing etc tree, or a file in its place, is one clear error naming the path as given", () => {
  const root = makeRoot();
  assert.throws(() => readEtcTree(root, "/nix/store/missing-etc/etc"), (e: Error) => e.message === "the etc tree: /nix/store/missing-etc/etc: does not exist");
  mkdirSync(join(root, "nix/store"), { recursive: true });
  writeFileSync(join(root, "nix/store/file"), "x");
  assert.throws(() => readEtcTree(root, "/nix/store/file"), (e: Error) => e.message === "the etc tree: /nix/store/file: is not a directory");
  assert.throws(() => readEtcTree(root, "/nix/store/file/etc"), (e: Error) => e.message === "the etc tree: /nix/store/file/etc: a part of the path is not a directory");
});

test("a .mode that is neither direct-symlink nor octal, and copies of directories, are invalid entries", () => {
  const root = makeRoot();
  const etc = buildEtcTree(root, {
    weird: { text: "w", mode: "u+rw" },
    big: { text: "w", mode: "017777" },
    dir: { dir: { a: "a" }, mode: "0644" },
    five: { text: "w", mode: "00644" },
    setuid: { text: "w", mode: "04755" },
  });
  const tree = readEtcTree(root, etc);
  // The Perl script took oct() of any string of octal digits; NixOS types `mode` as any string.
  assert.is((tree.byName.get("five") as { mode: number }).mode, 0o644);
  assert.is((tree.byName.get("setuid") as { mode: number }).mode, 0o4755);
  assert.match((tree.byName.get("weird") as { reason: string }).reason, /weird\.mode is neither 'direct-symlink' nor an octal mode$/);
  assert.match((tree.byName.get("big") as { reason: string }).reason, /octal/);
  assert.match((tree.byName.get("dir") as { reason: string }).reason, /not a regular file/);
});

test("missing .uid/.gid default to root, as etc.nix's defaults; entry names with a newline are refused", () => {
  const root = makeRoot();
  const etc = buildEtcTree(root, { x: { text: "x" } });
  const host = join(root, etc);
  writeFileSync(join(host, "x.mode"), "0600\n");
  symlinkSync("/nix/store/nothing", join(host, "bad\nname"));
  const tree = readEtcTree(root, etc);
  const x = tree.byName.get("x")!;
  assert.ok(x.kind === "copy" && x.user === "+0" && x.group === "+0");
  assert.is(tree.byName.get("bad\nname")!.kind, "invalid");
});

test.run();
