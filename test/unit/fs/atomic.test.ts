import { test } from "uvu";
import * as assert from "uvu/assert";
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { symlinkAtomic, writeFileAtomic } from "../../../src/fs/atomic.ts";
import { tempDir } from "../tmp.ts";

test("writeFileAtomic replaces a symlink at the path instead of writing through it", () => {
  const d = tempDir("atomic-");
  writeFileSync(join(d, "victim"), "keep");
  symlinkSync(join(d, "victim"), join(d, "shadow"));
  writeFileAtomic(join(d, "shadow"), "new\n", { mode: 0o600 });
  assert.is(readFileSync(join(d, "victim"), "utf8"), "keep");
  assert.ok(lstatSync(join(d, "shadow")).isFile());
  assert.is(statSync(join(d, "shadow")).mode & 0o777, 0o600);
  assert.equal(readdirSync(d).sort(), ["shadow", "victim"]);
});

test("symlinkAtomic creates, then replaces a link or a file, leaving no temporary name", () => {
  const d = tempDir("atomic-");
  const link = join(d, "current-system");
  symlinkAtomic("/nix/store/a", link);
  assert.is(readlinkSync(link), "/nix/store/a");
  symlinkAtomic("/nix/store/b", link, true);
  assert.is(readlinkSync(link), "/nix/store/b");
  writeFileSync(join(d, "plain"), "x");
  symlinkAtomic("/nix/store/c", join(d, "plain"));
  assert.is(readlinkSync(join(d, "plain")), "/nix/store/c");
  assert.equal(readdirSync(d).sort(), ["current-system", "plain"]);
});

test.run();
