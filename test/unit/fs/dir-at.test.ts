import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, existsSync, mkdirSync, readdirSync, renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { entryAt, kernelNames, openCheckedDirectory, REPLACED } from "../../../src/fs/dir-at.ts";
import { tempDir } from "../tmp.ts";

test("kernelNames: a root reached through a link is named by its real path", () => {
  const base = tempDir("dir-at-");
  mkdirSync(join(base, "real/home"), { recursive: true });
  symlinkSync("real", join(base, "via"));
  const names = kernelNames(`${join(base, "via")}/`);
  assert.is(names(join(base, "via/home")), join(base, "real/home"));
  assert.is(names(join(base, "via")), join(base, "real"));
  assert.is(kernelNames("/")("/home"), "/home");
  assert.is(kernelNames("/")("/"), "/");
});

test("openCheckedDirectory: the directory as resolved, or why not", () => {
  const base = tempDir("dir-at-");
  mkdirSync(join(base, "a/b"), { recursive: true });
  symlinkSync("a", join(base, "link"));
  const names = kernelNames(base);
  const fd = openCheckedDirectory(join(base, "a/b"), names(join(base, "a/b")));
  assert.type(fd, "number");
  closeSync(fd as number);
  assert.is(openCheckedDirectory(join(base, "missing"), names(join(base, "missing"))), "ENOENT");
  // A link at the last component is not followed.
  assert.ok(["ELOOP", "ENOTDIR"].includes(openCheckedDirectory(join(base, "link"), names(join(base, "link"))) as string));
  // A link above it is followed by the open, and then the kernel's name gives it away.
  assert.is(openCheckedDirectory(join(base, "link/b"), names(join(base, "link/b"))), REPLACED);
});

test("entryAt: what is made through the descriptor lands in the opened directory, wherever its name went", () => {
  const base = tempDir("dir-at-");
  mkdirSync(join(base, "parent"));
  mkdirSync(join(base, "elsewhere"));
  const fd = openCheckedDirectory(join(base, "parent"), kernelNames(base)(join(base, "parent"))) as number;
  try {
    // The name is swapped for a link after the check: the descriptor still means the old directory.
    renameSync(join(base, "parent"), join(base, "parent.old"));
    symlinkSync("elsewhere", join(base, "parent"));
    mkdirSync(entryAt(fd, "home"));
  } finally {
    closeSync(fd);
  }
  assert.ok(existsSync(join(base, "parent.old/home")));
  assert.equal(readdirSync(join(base, "elsewhere")), []);
});

test.run();
