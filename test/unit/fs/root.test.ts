import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, constants, lstatSync, mkdirSync, openSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { badInRootPath, hostPath, inRootPath, knownMissingAt, knownRegularAt, resolveInRoot, withResolveCache } from "../../../src/fs/root.ts";
import { openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } from "../../../src/fs/libc.ts";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { tempDir } from "../tmp.ts";

const O_PATH = 0o10000000;

/** Where the kernel resolves `abs` inside `root` (openat2 RESOLVE_IN_ROOT), or undefined if it fails. */
function kernelResolve(root: string, abs: string, followLast: boolean): string | undefined {
  const dirfd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const fd = openat2(dirfd, abs, O_PATH | (followLast ? 0 : constants.O_NOFOLLOW), RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) return undefined;
    try { return readlinkSync(`/proc/self/fd/${fd}`); } finally { closeSync(fd); }
  } finally {
    closeSync(dirfd);
  }
}

const exists = (p: string) => { try { lstatSync(p); return true; } catch { return false; } };

test("an absolute link, `..` above the root and a link to / all stay inside the root", () => {
  const base = tempDir("root-");
  const root = join(base, "root");
  mkdirSync(join(root, "some/where"), { recursive: true });
  mkdirSync(join(base, "outside"));
  symlinkSync("/some/where", join(root, "etc"));
  symlinkSync("../../../outside", join(root, "up"));
  symlinkSync("/", join(root, "top"));
  assert.is(resolveInRoot(root, "/etc/static"), join(root, "some/where/static"));
  assert.is(resolveInRoot(root, "/up/x"), join(root, "outside/x"));
  assert.is(resolveInRoot(root, "/top/../../etc"), join(root, "some/where"));
  assert.is(resolveInRoot(root, "/etc", false), join(root, "etc"));
});

/**
 * Random trees of directories, files and links (absolute and relative, escaping, dangling, looping),
 * and random paths through them: wherever the kernel's RESOLVE_IN_ROOT resolves a path, ours gives
 * the same host path; where the kernel finds nothing, ours names nothing that exists.
 */
test("resolveInRoot agrees with openat2(RESOLVE_IN_ROOT) on random trees", () => {
  const names = ["a", "b", "c", "etc", "static", ".."];
  let compared = 0;
  for (const seed of fuzzSeeds(60)) {
    const r = new Random(seed);
    const base = tempDir("root-fuzz-");
    const root = join(base, "root");
    mkdirSync(root);
    mkdirSync(join(base, "a"));
    const made = ["/"];
    const randomPath = (depth: number) => {
      const parts: string[] = [];
      for (let i = 0; i < depth; i++) parts.push(r.pick(names));
      return parts.join("/");
    };
    for (let i = 0; i < 25; i++) {
      const parent = r.pick(made);
      const name = r.pick(names.slice(0, 5));
      const here = join(root, parent, name);
      if (exists(here) || !exists(join(root, parent)) || !lstatSync(join(root, parent)).isDirectory()) continue;
      const what = r.int(4);
      if (what === 0) { mkdirSync(here); made.push(join(parent, name)); }
      else if (what === 1) writeFileSync(here, "x");
      else {
        const target = (r.chance(0.5) ? "/" : "") + randomPath(1 + r.int(4));
        symlinkSync(target, here);
      }
    }
    for (let q = 0; q < 40; q++) {
      const abs = "/" + randomPath(1 + r.int(5));
      const follow = r.chance(0.7);
      const kernel = kernelResolve(root, abs, follow);
      let ours: string | undefined;
      try { ours = resolveInRoot(root, abs, follow); } catch (e) {
        assert.is((e as NodeJS.ErrnoException).code, "ELOOP", `seed ${seed}: ${abs}`);
        assert.is(kernel, undefined, `seed ${seed}: ${abs}: we saw a loop, the kernel resolved it`);
        continue;
      }
      assert.ok(ours === root || ours.startsWith(root + "/"), `seed ${seed}: ${abs} escaped to ${ours}`);
      if (kernel !== undefined) {
        assert.is(ours.replace(/\/$/, ""), kernel, `seed ${seed}: ${abs} (follow ${follow})`);
        compared++;
      }
    }
  }
  assert.ok(compared > 100, `only ${compared} paths resolved by the kernel`);
});

test("knownRegularAt, knownMissingAt: what the resolution's own lstat found, only while resolution is memoised", () => {
  const root = tempDir("root-");
  mkdirSync(join(root, "store"));
  writeFileSync(join(root, "store/file"), "x");
  mkdirSync(join(root, "store/dir"));
  symlinkSync("/store/file", join(root, "link"));
  symlinkSync("/store/dir", join(root, "to-dir"));
  withResolveCache(() => {
    const file = resolveInRoot(root, "/link");
    assert.is(file, join(root, "store/file"));
    assert.ok(knownRegularAt(file));
    const dir = resolveInRoot(root, "/to-dir");
    assert.not.ok(knownRegularAt(dir));
    assert.not.ok(knownRegularAt(resolveInRoot(root, "/missing")));
    assert.not.ok(knownRegularAt(resolveInRoot(root, "/link", false)));
    // Nothing there (ENOENT, or ENOTDIR below a file): known missing; what exists is not.
    assert.ok(knownMissingAt(resolveInRoot(root, "/missing")));
    assert.ok(knownMissingAt(resolveInRoot(root, "/link/below")));
    assert.not.ok(knownMissingAt(file));
    assert.not.ok(knownMissingAt(dir));
  });
  assert.not.ok(knownMissingAt(join(root, "missing")));
  // Outside, nothing is remembered: the reader stats for itself.
  assert.not.ok(knownRegularAt(resolveInRoot(root, "/link")));
});

test("badInRootPath: absolute, normal form, not / unless allowed", () => {
  assert.is(badInRootPath("/home/alice"), undefined);
  assert.is(badInRootPath("/", true), undefined);
  for (const bad of ["", "home/alice", "/", "/../../x", "/home/./a", "/home//a", "/home/a/", "/home/..", "/a\0b"]) {
    assert.ok(badInRootPath(bad) !== undefined, bad);
  }
});

test("inRootPath undoes hostPath for a root with or without trailing slashes, and for /", () => {
  for (const root of ["/srv/r", "/srv/r/", "/srv/r//", "/"]) {
    for (const abs of ["/", "/etc", "/var/lib/nixos"]) assert.is(inRootPath(root, hostPath(root, abs)), abs, `${root} ${abs}`);
  }
});

test.run();
