import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isTempName, stageFile, sweepTemps, SYNCFS_FROM, syncDirs, syncStaged, tempPathFor } from "../../../src/fs/staged.ts";
import { tempDir } from "../tmp.ts";

const dir = () => tempDir("staged-");

test("a staged file sits beside its target with its mode and owner, the target untouched", async () => {
  const d = dir();
  writeFileSync(join(d, "passwd"), "old\n");
  const f = stageFile(join(d, "passwd"), Buffer.from("new\n"), { mode: 0o4750, uid: 12, gid: 34 });
  assert.ok(f.tmp.startsWith(join(d, ".passwd.stagehand-")), f.tmp);
  assert.is(readFileSync(join(d, "passwd"), "utf8"), "old\n");
  assert.is(readFileSync(f.tmp, "utf8"), "new\n");
  const st = statSync(f.tmp);
  assert.is(st.mode & 0o7777, 0o4750);
  assert.equal([st.uid, st.gid], [12, 34]);
  assert.is(f.dev, statSync(d).dev);
});

test("a staging that fails leaves no temporary file behind", async () => {
  const d = dir();
  mkdirSync(join(d, "sub"));
  // The owner cannot be set to an id beyond the kernel's range: the written file must go again.
  assert.throws(() => stageFile(join(d, "sub/x"), Buffer.from("x"), { mode: 0o644, uid: 2 ** 32 }));
  assert.equal(readdirSync(join(d, "sub")), []);
  assert.throws(() => stageFile(join(d, "missing/x"), Buffer.from("x"), { mode: 0o644 }));
});

test("a target name of up to 255 bytes gets a temporary name that fits NAME_MAX, recognised by the sweep", async () => {
  const d = dir();
  // 254 bytes of two-byte characters, and the longest plain name.
  for (const name of ["é".repeat(127), "n".repeat(255)]) {
    for (const tag of [undefined, "link", "new", "old", "dir"]) {
      const tmp = tempPathFor(join(d, name), tag);
      const base = tmp.slice(d.length + 1);
      assert.ok(Buffer.byteLength(base) <= 255, `${Buffer.byteLength(base)} bytes`);
      assert.ok(isTempName(base), base);
      assert.not.ok(base.includes("\uFFFD"), "cut at a character boundary");
    }
    const f = stageFile(join(d, name), Buffer.from("x\n"), { mode: 0o644 });
    renameSync(f.tmp, f.path);
    assert.is(readFileSync(join(d, name), "utf8"), "x\n");
    writeFileSync(tempPathFor(join(d, name)), "left by a killed run");
    assert.is(sweepTemps(d).length, 1);
  }
});

for (const n of [2, SYNCFS_FROM + 3]) {
  test(`${n} staged files are made durable together, then published by rename (${n < SYNCFS_FROM ? "fsync each" : "syncfs"})`, async () => {
    const d = dir();
    const files = Array.from({ length: n }, (_, i) => stageFile(join(d, `f${i}`), Buffer.from(`${i}\n`), { mode: 0o600 }));
    const failed = await syncStaged(files);
    assert.is(failed.size, 0);
    for (const f of files) renameSync(f.tmp, f.path);
    await syncDirs([d, join(d, "gone-meanwhile")]);
    assert.equal(readdirSync(d).sort(), files.map((f) => f.path.slice(d.length + 1)).sort());
    assert.is(readFileSync(join(d, "f1"), "utf8"), "1\n");
  });
}

test("a staged file that cannot be made durable is reported and removed, never published", async () => {
  const d = dir();
  const good = stageFile(join(d, "good"), Buffer.from("g"), { mode: 0o644 });
  const lost = stageFile(join(d, "lost"), Buffer.from("l"), { mode: 0o644 });
  // Its temporary name now holds a symlink: fsync by name (O_NOFOLLOW) must fail, not follow it.
  unlinkSync(lost.tmp);
  symlinkSync(good.tmp, lost.tmp);
  const failed = await syncStaged([good, lost]);
  assert.equal([...failed.keys()], [lost]);
  assert.throws(() => lstatSync(lost.tmp), /ENOENT/);
  assert.ok(existsSync(good.tmp));
  rmSync(d, { recursive: true });
});

test("sweepTemps removes every kind of our temporary names and nothing else, never following links", async () => {
  const d = dir();
  const outside = dir();
  writeFileSync(join(outside, "keep"), "x");
  const file = stageFile(join(d, "shadow"), Buffer.from("hash\n"), { mode: 0o600 }).tmp;
  const link = tempPathFor(join(d, "hosts"), "link");
  symlinkSync(outside, link);
  const sub = tempPathFor(join(d, "profile.d"), "dir");
  mkdirSync(sub);
  writeFileSync(join(sub, "inner"), "y");
  for (const keep of ["shadow", ".shadow.stagehand-", ".x.stagehand-NOTHEX123456", "a.stagehand-0123456789ab1", ".bashrc"]) writeFileSync(join(d, keep), "");
  assert.ok([file, link, sub].every((p) => isTempName(p.slice(d.length + 1))));
  assert.equal(sweepTemps(d).sort(), [file, link, sub].map((p) => p.slice(d.length + 1)).sort());
  assert.equal(readdirSync(d).sort(), [".bashrc", ".shadow.stagehand-", ".x.stagehand-NOTHEX123456", "a.stagehand-0123456789ab1", "shadow"]);
  assert.ok(existsSync(join(outside, "keep")));
  assert.equal(sweepTemps(join(d, "missing")), []);
});

test.run();
