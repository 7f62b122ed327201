import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { InputFileError, readRegularFile, readRegularFileOptional, readRegularTextOptional } from "../../../src/fs/read.ts";
import { tempDir } from "../tmp.ts";

const limits = { maxBytes: 16, what: "a test input" };

function refused(fn: () => unknown, problem: string, mustNotContain?: string): InputFileError {
  try { fn(); } catch (e) {
    assert.instance(e, InputFileError);
    const err = e as InputFileError;
    assert.is(err.problem, problem, err.message);
    assert.ok(err.message.startsWith("a test input: "), err.message);
    if (mustNotContain) assert.not.ok(err.message.includes(mustNotContain), err.message);
    return err;
  }
  throw new Error("not refused");
}

test("a regular file within the cap is read; a missing one is undefined", () => {
  const d = tempDir("read-");
  writeFileSync(join(d, "f"), "0644\n");
  assert.is(readRegularFile(join(d, "f"), limits).toString(), "0644\n");
  writeFileSync(join(d, "exact"), "x".repeat(16));
  assert.is(readRegularFile(join(d, "exact"), limits).length, 16);
  assert.is(readRegularFileOptional(join(d, "nope"), limits), undefined);
  assert.is(readRegularFileOptional(join(d, "exact/below"), limits), undefined);
  refused(() => readRegularFile(join(d, "nope"), limits), "missing");
});

test("a FIFO is refused at once, not waited on", () => {
  const d = tempDir("read-");
  assert.is(spawnSync("mkfifo", [join(d, "fifo")]).status, 0);
  refused(() => readRegularFile(join(d, "fifo"), limits), "not-regular");
  symlinkSync(join(d, "fifo"), join(d, "to-fifo"));
  refused(() => readRegularFile(join(d, "to-fifo"), limits), "not-regular");
});

test("a directory, a device and an oversized file are refused naming the file, never quoting it", () => {
  const d = tempDir("read-");
  mkdirSync(join(d, "dir"));
  const e = refused(() => readRegularFile(join(d, "dir"), limits), "not-regular");
  assert.ok(e.message.includes(join(d, "dir")) && e.message.includes("directory"), e.message);
  refused(() => readRegularFile("/dev/zero", limits), "not-regular");
  symlinkSync("/dev/zero", join(d, "zero"));
  refused(() => readRegularFile(join(d, "zero"), limits), "not-regular");
  writeFileSync(join(d, "big"), "SECRET".repeat(10));
  refused(() => readRegularFile(join(d, "big"), limits), "too-large", "SECRET");
});

test("noFollow refuses a symlink at the path itself", () => {
  const d = tempDir("read-");
  writeFileSync(join(d, "host-file"), "secret");
  symlinkSync(join(d, "host-file"), join(d, "link"));
  refused(() => readRegularFile(join(d, "link"), { ...limits, noFollow: true }), "not-regular", "secret");
  assert.is(readRegularFile(join(d, "link"), limits).toString(), "secret");
});

test("knownRegular skips the stat before the open, but what was opened is still judged by fstat", () => {
  const d = tempDir("read-");
  const known = { ...limits, noFollow: true, knownRegular: true };
  writeFileSync(join(d, "f"), "0644\n");
  assert.is(readRegularFile(join(d, "f"), known).toString(), "0644\n");
  assert.is(readRegularFileOptional(join(d, "gone"), known), undefined);
  assert.is(readRegularFileOptional(join(d, "f/below"), known), undefined);
  // What the caller saw was a regular file; what is there by the open is not: refused, not read.
  assert.is(spawnSync("mkfifo", [join(d, "fifo")]).status, 0);
  refused(() => readRegularFile(join(d, "fifo"), known), "not-regular");
  mkdirSync(join(d, "dir"));
  refused(() => readRegularFile(join(d, "dir"), known), "not-regular");
  refused(() => readRegularFile("/dev/zero", { ...limits, knownRegular: true }), "not-regular");
  writeFileSync(join(d, "secret"), "secret");
  symlinkSync(join(d, "secret"), join(d, "link"));
  const e = refused(() => readRegularFile(join(d, "link"), known), "not-regular", "secret");
  assert.ok(e.message.includes("symbolic link"), e.message);
  writeFileSync(join(d, "big"), "SECRET".repeat(10));
  refused(() => readRegularFile(join(d, "big"), known), "too-large", "SECRET");
});

test("paths as the kernel takes them: UTF-8 names, large files whole, a NUL or an overlong path refused typed", () => {
  const d = tempDir("read-");
  writeFileSync(join(d, "größe-∑"), "ü");
  assert.is(readRegularFile(join(d, "größe-∑"), limits).toString(), "ü");
  const big = Buffer.alloc(300_000, 7);
  big[299_999] = 9;
  writeFileSync(join(d, "big"), big);
  assert.ok(readRegularFile(join(d, "big"), { ...limits, maxBytes: 1 << 20 }).equals(big));
  refused(() => readRegularFile(`${d}/f\0x`, limits), "unreadable");
  refused(() => readRegularFile(`${d}/${"x/".repeat(3000)}f`, limits), "unreadable");
  // Reads after a refused path use the reused path buffer correctly.
  assert.is(readRegularFile(join(d, "größe-∑"), limits).toString(), "ü");
});

test("small files are read through one shared buffer: each result is its own, text decoded as UTF-8", () => {
  const d = tempDir("read-");
  const big = { ...limits, maxBytes: 1 << 20 };
  writeFileSync(join(d, "a"), "first\n");
  writeFileSync(join(d, "b"), "zweite ü\n");
  const a = readRegularFile(join(d, "a"), big);
  const b = readRegularFile(join(d, "b"), big);
  assert.is(a.toString(), "first\n", "not overwritten by the next read");
  assert.is(b.toString(), "zweite ü\n");
  assert.is(a.length, 6);
  assert.is(readRegularTextOptional(join(d, "b"), big), "zweite ü\n");
  assert.is(readRegularTextOptional(join(d, "nope"), big), undefined);
  writeFileSync(join(d, "empty"), "");
  assert.is(readRegularTextOptional(join(d, "empty"), big), "");
  assert.is(readRegularFile(join(d, "empty"), big).length, 0);
  // At, just past and far past the shared buffer's size (64 KiB).
  for (const n of [65_535, 65_536, 65_537, 200_000]) {
    const content = Buffer.alloc(n, 1);
    content[n - 1] = 2;
    writeFileSync(join(d, `n${n}`), content);
    assert.ok(readRegularFile(join(d, `n${n}`), big).equals(content), `${n} bytes`);
    assert.is(readRegularTextOptional(join(d, `n${n}`), big)!.length, n);
  }
  assert.is(a.toString(), "first\n", "still its own after larger reads");
  refused(() => readRegularTextOptional(join(d, "n200000"), limits), "too-large");
});

test("a file whose stat size says nothing (/proc) is read whole, with firstRead in one read, and still capped", () => {
  const whole = readRegularTextOptional("/proc/self/status", { maxBytes: 64 << 10, what: "a test input" })!;
  assert.match(whole, /^Name:\t/);
  assert.ok(whole.endsWith("\n") && whole.includes("\nPid:\t"), "whole, from reads doubling from one byte");
  for (const firstRead of [1, 64, 4096, 1 << 20]) {
    const t = readRegularTextOptional("/proc/self/status", { maxBytes: 64 << 10, what: "a test input", firstRead })!;
    assert.is(t.split("\n")[0], whole.split("\n")[0], `firstRead ${firstRead}`);
    assert.ok(t.endsWith("\n") && t.includes("\nPid:\t"), `firstRead ${firstRead}: whole`);
  }
  const d = tempDir("read-");
  writeFileSync(join(d, "f"), "0123456789abcdefXYZ");
  refused(() => readRegularTextOptional(join(d, "f"), { ...limits, firstRead: 4096 }), "too-large");
  refused(() => readRegularTextOptional("/proc/self/status", { ...limits, firstRead: 4096 }), "too-large");
  assert.is(readRegularTextOptional(join(d, "f"), { ...limits, maxBytes: 19, firstRead: 4096 }), "0123456789abcdefXYZ");
});

test.run();
