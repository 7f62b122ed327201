/**
 * What the etc step reads is a regular file of bounded size (issue 13 §2): the tree's `.mode`,
 * `.uid`, `.gid` sidecars and copied sources, the root's passwd, group and .clean. A refused
 * sidecar makes its entry an error naming it; the other entries are still set up; a refused
 * input's content is never printed. Owners out of uid_t's range are refused at planning (§5).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planEtcSetup } from "../../../src/etc/step.ts";
import { InputFileError } from "../../../src/fs/read.ts";
import { tempDir } from "../tmp.ts";
import { buildEtcTree, makeUserRoot } from "./fixtures.ts";
import { setup } from "./helpers.ts";

const mkfifo = (path: string) => assert.is(spawnSync("mkfifo", [path]).status, 0, `mkfifo ${path}`);

/** A tree with a copy `bad` (whose sidecars tests replace) and a plain link `good`. */
function treeWithBadEntry() {
  const root = makeUserRoot("etc-inputs-");
  const entries = { bad: { text: "b\n", mode: "0644" }, good: { text: "g\n" }, "z/copy": { text: "z\n", mode: "0600" } };
  const etc = buildEtcTree(root, entries);
  return { root, entries, sidecar: (s: string) => join(root, etc, `bad${s}`) };
}

/** Sets up `entries` (the tree is already built); the bad entry must be refused, the rest set up. */
async function assertOnlyBadRefused(root: string, entries: Record<string, object>, pattern: RegExp, secret?: string) {
  const r = await setup(root, entries as never);
  assert.is(r.status, 1);
  assert.is(r.messages.length, 1, r.messages.join("\n"));
  assert.match(r.messages[0]!, /^error: not setting up ‘\/etc\/bad’: /);
  assert.match(r.messages[0]!, pattern);
  if (secret) assert.not.ok(r.messages[0]!.includes(secret) || r.lines.join("\n").includes(secret), "the content is not printed");
  assert.not.ok(existsSync(join(root, "etc/bad")));
  assert.is(readlinkSync(join(root, "etc/good")), "/etc/static/good", "the other entries are set up");
  assert.is(statSync(join(root, "etc/z/copy")).mode & 0o777, 0o600);
}

test("a .mode FIFO is refused without blocking, naming the entry", async () => {
  const { root, entries, sidecar } = treeWithBadEntry();
  unlinkSync(sidecar(".mode"));
  mkfifo(sidecar(".mode"));
  await assertOnlyBadRefused(root, entries, /\.mode of the etc entry bad: .*is a FIFO, not a regular file/);
});

test("a .mode directory is refused naming the entry, and is not set up as a directory of /etc", async () => {
  const { root, entries, sidecar } = treeWithBadEntry();
  unlinkSync(sidecar(".mode"));
  mkdirSync(sidecar(".mode"));
  symlinkSync("/nix/store/whatever", join(sidecar(".mode"), "inner"));
  await assertOnlyBadRefused(root, entries, /\.mode of the etc entry bad: .*is a directory/);
  assert.not.ok(existsSync(join(root, "etc/bad.mode")));
});

test("a .uid linked to /dev/zero is refused (a symlinked sidecar is not followed), memory stays bounded", async () => {
  const { root, entries, sidecar } = treeWithBadEntry();
  unlinkSync(sidecar(".uid"));
  symlinkSync("/dev/zero", sidecar(".uid"));
  await assertOnlyBadRefused(root, entries, /\.uid of the etc entry bad: .*is a symbolic link/);
});

test("a .uid of more than 4 KiB is refused", async () => {
  const { root, entries, sidecar } = treeWithBadEntry();
  writeFileSync(sidecar(".uid"), "a".repeat(1 << 20));
  await assertOnlyBadRefused(root, entries, /\.uid of the etc entry bad: .*more than the 4096 accepted/);
});

test("a .mode symlink to a host file is not followed, and its content is never printed", async () => {
  const { root, entries, sidecar } = treeWithBadEntry();
  const host = tempDir("etc-inputs-host-");
  writeFileSync(join(host, "secret"), "TOP-SECRET-CONTENT\n");
  unlinkSync(sidecar(".mode"));
  symlinkSync(join(host, "secret"), sidecar(".mode"));
  await assertOnlyBadRefused(root, entries, /is a symbolic link/, "TOP-SECRET-CONTENT");
});

test("a .mode or .uid with text that is not a mode or an owner: refused without quoting it", async () => {
  let t = treeWithBadEntry();
  writeFileSync(t.sidecar(".mode"), "TOP-SECRET-CONTENT\n");
  await assertOnlyBadRefused(t.root, t.entries, /bad\.mode is neither 'direct-symlink' nor an octal mode$/, "TOP-SECRET-CONTENT");
  t = treeWithBadEntry();
  writeFileSync(t.sidecar(".uid"), "root:$6$TOP-SECRET-CONTENT\n");
  await assertOnlyBadRefused(t.root, t.entries, /unknown user \(not a user or group name, nor \+N\) in bad\.uid$/, "TOP-SECRET-CONTENT");
});

test("a copy whose source is a FIFO or a device is refused without blocking", async () => {
  for (const make of [(p: string) => mkfifo(p), (p: string) => symlinkSync("/dev/zero", p)]) {
    const root = makeUserRoot("etc-inputs-");
    const entries = { bad: { text: "b\n", mode: "0644" }, good: { text: "g\n" }, "z/copy": { text: "z\n", mode: "0600" } };
    const etc = buildEtcTree(root, entries);
    const source = readlinkSync(join(root, etc, "bad"));
    unlinkSync(join(root, source));
    make(join(root, source));
    // /dev/zero inside the root: give the root one (a FIFO stands in; the host's is never reached).
    if (!existsSync(join(root, "dev/zero"))) { mkdirSync(join(root, "dev"), { recursive: true }); mkfifo(join(root, "dev/zero")); }
    await assertOnlyBadRefused(root, entries, /source is not a regular file/);
  }
});

test("a FIFO as the root's /etc/passwd or /etc/.clean: reported by name and read as empty, no hang; the rest is set up", async () => {
  for (const name of ["passwd", ".clean"]) {
    const root = makeUserRoot("etc-inputs-");
    const entries = { conf: { text: "c\n", mode: "0600", user: "+0" }, good: { text: "g\n" } };
    const etc = buildEtcTree(root, entries);
    rmSync(join(root, "etc", name), { force: true });
    mkfifo(join(root, "etc", name));
    const { lines } = planEtcSetup(root, etc, {}, false);
    assert.ok(lines.some((l) => new RegExp(`^error: /etc/${name.replace(".", "\\.")}: .*is a FIFO, not a regular file; read as empty$`).test(l)), lines.join("\n"));
    const r = await setup(root, entries);
    assert.is(r.status, 1);
    assert.is(readlinkSync(join(root, "etc/good")), "/etc/static/good");
    assert.is(statSync(join(root, "etc/conf")).mode & 0o777, 0o600);
  }
});

test("owners out of uid_t's range are refused at planning, naming the entry; the rest is set up", async () => {
  const root = makeUserRoot("etc-inputs-");
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nhuge:x:5000000000:0::/:/bin/false\n");
  const entries = {
    a: { text: "a\n", mode: "0644", user: "+99999999999" },
    b: { text: "b\n", mode: "0644", user: "+4294967295" },
    c: { text: "c\n", mode: "0644", group: "4294967295" },
    d: { text: "d\n", mode: "0644", user: "huge" },
    e: { text: "e\n", mode: "0644", user: "+4294967294", group: "+0" },
    f: { text: "f\n" },
  };
  const etc = buildEtcTree(root, entries);
  const dry = planEtcSetup(root, etc, {}, false);
  const errors = dry.lines.filter((l) => l.startsWith("error:"));
  assert.equal(errors, [
    "error: not setting up ‘/etc/a’: user ‘+99999999999’ in a.uid is out of range (0 to 4294967294)",
    "error: not setting up ‘/etc/b’: user ‘+4294967295’ in b.uid is out of range (0 to 4294967294)",
    "error: not setting up ‘/etc/c’: group ‘4294967295’ in c.gid is out of range (0 to 4294967294)",
    "error: not setting up ‘/etc/d’: user ‘huge’ in d.uid is out of range (0 to 4294967294)",
  ]);
  const r = await setup(root, entries);
  assert.is(r.status, 1);
  for (const n of ["a", "b", "c", "d"]) assert.not.ok(existsSync(join(root, "etc", n)), n);
  assert.is(statSync(join(root, "etc/e")).uid, 4294967294);
  assert.is(readlinkSync(join(root, "etc/f")), "/etc/static/f");
});

test("a copy whose source is a symlink loop is refused naming the entry; the other entries are set up", async () => {
  const { root, entries } = treeWithBadEntry();
  const etc = buildEtcTree(root, entries);
  const link = join(root, etc, "bad");
  unlinkSync(link);
  symlinkSync("/nix/store/loopy", link);
  symlinkSync("/nix/store/loopy", join(root, "nix/store/loopy"));
  await assertOnlyBadRefused(root, entries, /cannot read the etc entry bad: too many levels of symbolic links/);
});

test("a passwd the tree declares as a directory, or a .clean that is a directory, is reported and read as empty: every other entry is set up, at every run", async () => {
  for (const bad of ["declared passwd", ".clean"]) {
    const root = makeUserRoot("etc-inputs-");
    const entries = { passwd: { text: "root:x:0:0::/root:/bin/sh\n" }, good: { text: "g\n" }, "z/copy": { text: "z\n", mode: "0600" } };
    const etc = buildEtcTree(root, entries);
    if (bad === ".clean") mkdirSync(join(root, "etc/.clean"));
    else {
      const src = join(root, readlinkSync(join(root, etc, "passwd")));
      rmSync(src);
      mkdirSync(src);
    }
    for (const run of [1, 2]) {
      const r = await setup(root, entries);
      assert.is(r.status, 1, bad);
      assert.is(r.messages.length, 1, r.messages.join("\n"));
      assert.match(r.messages[0]!, bad === ".clean" ? /^error: \/etc\/\.clean: .*is a directory, not a regular file; read as empty$/ : /^error: the etc entry passwd: .*is a directory, not a regular file; read as empty$/);
      assert.is(readlinkSync(join(root, "etc/good")), "/etc/static/good", `${bad}, run ${run}`);
      assert.is(statSync(join(root, "etc/z/copy")).mode & 0o777, 0o600);
    }
  }
});

test("entries named as /etc's own bookkeeping (.clean, static, the locks of etc and of the user databases) are refused by name; .clean stays a file of copies", async () => {
  const root = makeUserRoot("etc-inputs-");
  const first = await setup(root, { kept: { text: "k\n", mode: "0644" } });
  assert.is(first.status, 0, first.messages.join("\n"));
  for (const own of [".clean", "static", ".setup-etc.lock", ".pwd.lock"]) {
    const r = await setup(root, { kept: { text: "k\n", mode: "0644" }, [own]: { text: "x\n", mode: "0644" }, good: { text: "g\n" } });
    assert.is(r.status, 1, own);
    assert.equal(r.messages, [`error: not setting up ‘/etc/${own}’: /etc/${own} is the activation's own bookkeeping, not an entry`], own);
    assert.is(readlinkSync(join(root, "etc/good")), "/etc/static/good", "the other entries are set up");
    assert.ok(statSync(join(root, "etc/.clean")).isFile(), ".clean is still a regular file");
    assert.is(readFileSync(join(root, "etc/.clean"), "utf8"), "kept\n", own);
  }
  // A line naming them in .clean (written by hand, or by an older run) is refused, never removed as a copy.
  writeFileSync(join(root, "etc/.clean"), "kept\n.clean\nstatic\n");
  const r = await setup(root, { kept: { text: "k\n", mode: "0644" } });
  assert.ok(statSync(join(root, "etc/.clean")).isFile());
  assert.ok(lstatSync(join(root, "etc/static")).isSymbolicLink());
  assert.ok(r.messages.some((m) => m.includes("ignoring line ‘.clean’ of /etc/.clean")), r.messages.join("\n"));
});

test.run();
