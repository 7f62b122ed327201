/**
 * `stagehand etc` on an overlayfs root (issue 13 §4): directories of a lower layer cannot be
 * renamed there (EXDEV), so one that is empty or holds only links into /etc/static is emptied and
 * removed in place before its link (or copy) is put there, as setup-etc.pl does; one holding a
 * user's file is kept with setup-etc.pl's warnings; every other entry is still set up, nothing of
 * ours is left behind, and the next run is a no-op. Real overlayfs mounts, no container.
 * Lower layers are our own plus the cached rootfs (its /etc/profile.d is an empty directory):
 * @suites bookworm
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { RootCopy } from "../harness/rootfs.ts";
import { resolveInRoot } from "../../src/fs/root.ts";
import { buildEtcTree, type FixtureEntry, snapshot } from "../unit/etc/fixtures.ts";
import { overlayWithLower } from "./etc-helpers.ts";

const BIN = join(import.meta.dir, "../../dist/stagehand");

let root: RootCopy;

function run(etc: string, ...flags: string[]) {
  const r = spawnSync(BIN, ["etc", ...flags, "--root", root.dir, etc], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr.split("\n").filter(Boolean), stdout: r.stdout };
}

/** Our temporary names anywhere under the root's /etc. */
function temps(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.name.includes(".stagehand-")) found.push(join(dir, d.name));
      if (d.isDirectory()) walk(join(dir, d.name));
    }
  };
  walk(join(root.dir, "etc"));
  return found;
}

const GEN: Record<string, FixtureEntry> = {
  "profile.d": { dir: { "a.sh": "a\n" } },              // Debian's empty lower-layer directory -> link
  "lower-empty": { text: "now a copy\n", mode: "0600" },   // empty lower directory -> copy
  "lower-static": { dir: { a: "a\n" } },                 // lower directory of links into /etc/static -> link
  "lower-user": { dir: { mine: "declared\n" } },         // lower directory with a user's file: kept, warned
  "lower-file": { text: "declared\n", mode: "0644" },    // lower file -> copy
  "lower-link/a": { text: "a\n" },                       // a lower-layer link into /etc/static -> directory
  hosts: { text: "127.0.0.1 localhost\n" },              // after them all (bytewise), still set up
  "zz/last": { text: "z\n", mode: "0640" },
};

test.before(() => {
  root = overlayWithLower("etc-overlay-");
  assert.equal(readdirSync(join(root.dir, "etc/profile.d")), [], "Debian's /etc/profile.d is empty (lower layer)");
});
test.after(() => root?.dispose());

test("lower-layer directories become links or copies; a user's directory is kept with warnings; the rest is set up", () => {
  const etc = buildEtcTree(root.dir, GEN);
  const r = run(etc);
  assert.equal(r.stderr, [
    "removing obsolete symlink ‘/etc/lower-link’...",
    "removing obsolete symlink ‘/etc/lower-obsolete’...",
    "removing obsolete symlink ‘/etc/lower-static/a’...",
    "removing obsolete symlink ‘/etc/lower-static/sub/b’...",
    "/etc/lower-user directory contains user files. Symlinking may fail.",
    "could not create symlink /etc/lower-user",
  ]);
  assert.is(r.status, 0, "warnings only, as setup-etc.pl");
  const s = snapshot(join(root.dir, "etc"));
  assert.is(s["profile.d"], "link -> /etc/static/profile.d");
  assert.is(readFileSync(resolveInRoot(root.dir, "/etc/profile.d/a.sh"), "utf8"), "a\n");
  assert.is(s["lower-static"], "link -> /etc/static/lower-static");
  assert.is(s["lower-empty"], 'file 600 0:0 "now a copy\\n"');
  assert.is(s["lower-file"], 'file 644 0:0 "declared\\n"');
  assert.is(s["lower-user"], "dir 755 0:0");
  assert.is(s["lower-user/mine"], 'file 644 0:0 "a user\'s file\\n"');
  assert.is(s["lower-link"], "dir 755 0:0");
  assert.is(s["lower-link/a"], "link -> /etc/static/lower-link/a");
  assert.is(s.hosts, "link -> /etc/static/hosts");
  assert.is(s["zz/last"], 'file 640 0:0 "z\\n"');
  assert.not.ok(existsSync(join(root.dir, "etc/lower-obsolete")));
  assert.equal(temps(), [], "no temporary file left");
  assert.is(readFileSync(join(root.dir, "etc/.clean"), "utf8"), "lower-empty\nlower-file\nzz/last\n");
});

test("the next run is a no-op (bar the kept directory's warnings)", () => {
  const etc = buildEtcTree(root.dir, GEN);
  const before = snapshot(join(root.dir, "etc"));
  const r = run(etc);
  assert.equal(r.stderr, ["/etc/lower-user directory contains user files. Symlinking may fail.", "could not create symlink /etc/lower-user"]);
  assert.is(r.status, 0);
  assert.equal(snapshot(join(root.dir, "etc")), before);
});

test("links become directories again on the overlay", () => {
  const etc = buildEtcTree(root.dir, {
    "profile.d/a.sh": { text: "a\n" }, "lower-static/a": { text: "a\n" }, "zz/last": { text: "x\n", mode: "0644" }, hosts: { text: "h\n" },
  });
  const r = run(etc);
  assert.is(r.status, 0, r.stderr.join("\n"));
  assert.ok(lstatSync(join(root.dir, "etc/profile.d")).isDirectory());
  assert.is(readlinkSync(join(root.dir, "etc/profile.d/a.sh")), "/etc/static/profile.d/a.sh");
  assert.ok(lstatSync(join(root.dir, "etc/lower-static")).isDirectory());
  assert.is(readFileSync(join(root.dir, "etc/zz/last"), "utf8"), "x\n");
  assert.equal(temps(), []);
});

test("/etc/static that is a real directory is refused before any link is made", () => {
  const copy = overlayWithLower("etc-overlay-static-", { static: "dir", "static/hosts": "not a tree\n" });
  try {
    const etc = buildEtcTree(copy.dir, { hosts: { text: "h\n" }, motd: { text: "m\n" } });
    const before = snapshot(join(copy.dir, "etc"));
    const r = spawnSync(BIN, ["etc", "--root", copy.dir, etc], { encoding: "utf8" });
    assert.is(r.status, 1);
    assert.is(r.stderr, "error: /etc/static is a directory, not a symlink: not setting up /etc\n");
    assert.equal(snapshot(join(copy.dir, "etc")), before, "no dangling /etc/hosts, nothing else changed");
  } finally {
    copy.dispose();
  }
});

test.run();
