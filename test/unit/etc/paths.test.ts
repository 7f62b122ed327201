import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { badEntryName } from "../../../src/etc/paths.ts";
import { canonicalInRoot, resolveInRoot, withResolveCache } from "../../../src/fs/root.ts";
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

test("memoised resolution answers as the live one, stays in the root, and ends with its scope", () => {
  const root = makeRoot();
  mkdirSync(join(root, "store/t/etc/ssh"), { recursive: true });
  symlinkSync("/store/t/etc", join(root, "etc/static"));
  symlinkSync("/../../../store/t/etc/ssh", join(root, "etc/ssh"));
  const paths = ["/etc/static/ssh/x", "/etc/ssh/y", "/etc/static", "/etc/none/z"];
  const live = paths.map((p) => canonicalInRoot(root, p));
  const memo = withResolveCache(() => paths.map((p) => [canonicalInRoot(root, p), canonicalInRoot(root, p)]));
  assert.equal(memo, live.map((p) => [p, p]));
  assert.equal(live, ["/store/t/etc/ssh/x", "/store/t/etc/ssh/y", "/store/t/etc", "/etc/none/z"]);
  // After the scope, a changed link is seen at once.
  rmSync(join(root, "etc/ssh"));
  mkdirSync(join(root, "etc/ssh"));
  assert.is(canonicalInRoot(root, "/etc/ssh/y"), "/etc/ssh/y");
});

test("memoised resolution agrees with the live one on relative links, `..`, chains, dangling links and odd spellings", () => {
  const root = makeRoot();
  mkdirSync(join(root, "store/a/b/c"), { recursive: true });
  symlinkSync("../store/a", join(root, "etc/rel"));          // relative, through the parent
  symlinkSync("rel/b/../b/c", join(root, "etc/chain"));      // relative to a link, with `..` after a link
  symlinkSync("/etc/chain/..", join(root, "etc/up"));        // `..` of a link's target: the target's parent
  symlinkSync("/etc/nowhere/x", join(root, "etc/dangling"));
  symlinkSync("../../../../..", join(root, "store/a/b/c/top"));
  const paths = [
    "/etc/rel", "/etc/rel/b", "/etc/chain", "/etc/chain/d", "/etc/up", "/etc/up/c", "/etc/dangling", "/etc/dangling/y",
    "/etc/rel/b/c/top", "/etc/rel/b/c/top/etc/rel", "//etc/./rel//b/", "/etc/rel/..", "/..", "/", "/etc/chain/../../..",
  ];
  const live = paths.flatMap((p) => [canonicalInRoot(root, p), canonicalInRoot(root, p, false)]);
  const memo = withResolveCache(() => paths.flatMap((p) => [canonicalInRoot(root, p), canonicalInRoot(root, p, false)]));
  // Asked in another order, so other prefixes are memoised first.
  const again = withResolveCache(() => [...paths].reverse().map((p) => [canonicalInRoot(root, p, false), canonicalInRoot(root, p)]));
  assert.equal(memo, live);
  assert.equal(again.reverse().flatMap(([last, full]) => [full, last]), live);
  assert.equal(live.filter((_, i) => i % 2 === 0), [
    "/store/a", "/store/a/b", "/store/a/b/c", "/store/a/b/c/d", "/store/a/b", "/store/a/b/c", "/etc/nowhere/x", "/etc/nowhere/x/y",
    "/", "/store/a", "/store/a/b", "/store", "/", "/", "/store",
  ]);
});

test("badEntryName's quick scan passes exactly the names its rules pass (every name of up to 5 characters from a/./\\n/NUL)", () => {
  const rules = (name: string) => name !== "" && !name.startsWith("/") && !/[\n\0]/.test(name)
    && name.split("/").every((p) => p !== "" && p !== "." && p !== "..");
  const alphabet = ["a", ".", "/", "\n", "\0"];
  let names = [""];
  for (let len = 0; len <= 5; len++) {
    for (const n of names) assert.is(badEntryName(n) === undefined, rules(n), JSON.stringify(n));
    names = names.flatMap((n) => alphabet.map((c) => n + c));
  }
});

test.run();
