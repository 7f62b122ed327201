import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskUnitDirectory, memoryUnitDirectory } from "../../../src/units/dir.ts";

test("disk: present, masked, dangling and absent units; drop-ins only from existing NAME.d", () => {
  const d = mkdtempSync(join(tmpdir(), "stagehand-dir-"));
  try {
    writeFileSync(join(d, "a.service"), "[Unit]\n");
    writeFileSync(join(d, "b.service"), "[Service]\n");
    symlinkSync("/dev/null", join(d, "m.service"));
    symlinkSync(join(d, "a.service"), join(d, "l.service"));
    symlinkSync(join(d, "nowhere"), join(d, "x.service"));
    mkdirSync(join(d, "a.service.d"));
    writeFileSync(join(d, "a.service.d", "b.conf"), "B");
    writeFileSync(join(d, "a.service.d", "a.conf"), "A");
    writeFileSync(join(d, "a.service.d", "skip.txt"), "no");
    symlinkSync("/dev/null", join(d, "a.service.d", "c.conf"));
    const u = diskUnitDirectory(d);
    assert.equal(["a.service", "b.service", "m.service", "l.service", "x.service", "none.service"].map((n) => u.fileState(n)),
      ["present", "present", "masked", "present", "missing", "missing"]);
    assert.is(u.exists("l.service"), true);
    assert.is(u.read("m.service"), "");
    assert.is(u.read("none.service"), undefined);
    assert.equal(u.dropins("a.service").map((x) => [x.path.slice(d.length), x.state, x.text]),
      [["/a.service.d/a.conf", "present", "A"], ["/a.service.d/b.conf", "present", "B"], ["/a.service.d/c.conf", "masked", ""]]);
    assert.equal(u.dropins("b.service"), []);
    assert.equal(u.names(), ["a.service", "b.service", "l.service", "m.service", "x.service"]);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("memory: drop-ins by folder, sorted, direct children only, and files added later are seen", () => {
  const files: Record<string, string | null> = {
    "a.service": "", "a.service.d/z.conf": "Z", "a.service.d/a.conf": "A", "a.service.d/sub/x.conf": "no", "a.service.d/n.txt": "no",
  };
  const u = memoryUnitDirectory("/d", files);
  assert.equal(u.dropins("a.service").map((x) => x.text), ["A", "Z"]);
  assert.equal(u.dropins("b.service"), []);
  files["b.service.d/m.conf"] = null;
  assert.equal(u.dropins("b.service").map((x) => x.state), ["masked"]);
});

test.run();
