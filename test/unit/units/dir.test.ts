import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskUnitDirectory, memoryUnitDirectory, sameUnitFiles, UnitDirectoryError } from "../../../src/units/dir.ts";
import { tempDir } from "../tmp.ts";

test("disk: present, masked, dangling and absent units; drop-ins only from existing NAME.d", () => {
  const d = tempDir("stagehand-dir-");
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

test("units linked to the same absolute paths are the same files, known without reading them", () => {
  const root = tempDir("unitdir-identity-");
  try {
    const store = join(root, "store");
    mkdirSync(store);
    for (const f of ["a.service", "b.service", "x.conf", "y.conf"]) writeFileSync(join(store, f), `[Unit]\nDescription=${f}\n`);
    const gen = (name: string, files: Record<string, string>) => {
      const dir = join(root, name);
      for (const [rel, target] of Object.entries(files)) {
        mkdirSync(join(dir, rel, ".."), { recursive: true });
        if (target.startsWith("text:")) writeFileSync(join(dir, rel), target.slice(5));
        else symlinkSync(target, join(dir, rel));
      }
      return diskUnitDirectory(dir);
    };
    const base = { "a.service": join(store, "a.service"), "a.service.d/x.conf": join(store, "x.conf"), "plain.service": "text:[Unit]\n", "rel.service": "../store/a.service" };
    const old = gen("old", base);
    assert.ok(sameUnitFiles(old, gen("same", base), "a.service", "a.service"));
    assert.not.ok(sameUnitFiles(old, gen("other", { ...base, "a.service": join(store, "b.service") }), "a.service", "a.service"));
    assert.not.ok(sameUnitFiles(old, gen("dropin", { ...base, "a.service.d/x.conf": join(store, "y.conf") }), "a.service", "a.service"));
    assert.not.ok(sameUnitFiles(old, gen("more", { ...base, "a.service.d/z.conf": join(store, "y.conf") }), "a.service", "a.service"));
    // Plain files and relative links are not known to be the same: they are read and compared.
    assert.not.ok(sameUnitFiles(old, gen("same2", base), "plain.service", "plain.service"));
    assert.not.ok(sameUnitFiles(old, gen("same3", base), "rel.service", "rel.service"));
    // An instance also needs its own drop-ins to match.
    const inst = { "t@.service": join(store, "a.service"), "t@1.service.d/x.conf": join(store, "x.conf") };
    assert.ok(sameUnitFiles(gen("i1", inst), gen("i2", inst), "t@1.service", "t@.service"));
    assert.not.ok(sameUnitFiles(gen("i3", inst), gen("i4", { ...inst, "t@1.service.d/x.conf": join(store, "y.conf") }), "t@1.service", "t@.service"));
    // The same directory (here once through a link to it, as NixOS's unchanged `system-units`
    // store path is reached from both generations): every unit is the same, plain files too.
    symlinkSync(join(root, "old"), join(root, "old-link"));
    const again = diskUnitDirectory(join(root, "old-link"));
    assert.ok(sameUnitFiles(old, again, "plain.service", "plain.service"));
    assert.ok(sameUnitFiles(old, again, "rel.service", "rel.service"));
    assert.not.ok(sameUnitFiles(old, gen("same4", base), "plain.service", "plain.service"));
    // Never for in-memory directories.
    const mem = memoryUnitDirectory("/m", { "a.service": "[Unit]\n" });
    assert.not.ok(sameUnitFiles(mem, mem, "a.service", "a.service"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("an empty unit file is masked, as systemd reads it (systemd.unit(5)); the planner stops the unit", async () => {
  const { generation, planBetween, activeUnits, simpleService } = await import("../switch/helpers.ts");
  const oldTop = generation({ "e.service": simpleService() });
  const newTop = generation({ "e.service": "", "e.service.d/empty.conf": "" });
  const dir = diskUnitDirectory(join(newTop, "etc/systemd/system"));
  assert.is(dir.fileState("e.service"), "masked");
  assert.is(dir.exists("e.service"), true);
  assert.is(memoryUnitDirectory("/m", { "e.service": "" }).fileState("e.service"), "masked");
  const plan = planBetween(oldTop, newTop, activeUnits("e.service"));
  assert.equal(Object.keys(plan.stop), ["e.service"]);
  assert.match(plan.stop["e.service"]!, /masked in the new generation/);
  assert.equal(Object.keys(plan.start), []);
});

test("two generations' directories that resolve to the same directory share their files' states: one stat for both", () => {
  const d = tempDir("stagehand-dir-");
  try {
    const units = join(d, "store-units");
    mkdirSync(units);
    writeFileSync(join(units, "a.service"), "[Unit]\n");
    writeFileSync(join(units, "b.service"), "[Unit]\n");
    symlinkSync(join(units, "a.service"), join(units, "l.service"));
    for (const gen of ["old", "new"]) symlinkSync(units, join(d, gen));
    mkdirSync(join(d, "other"));
    symlinkSync(join(units, "a.service"), join(d, "other", "l.service"));
    const sharedStates = new Map();
    const old = diskUnitDirectory(join(d, "old"), { sharedStates });
    assert.equal(["a.service", "l.service", "none.service"].map((n) => old.fileState(n)), ["present", "present", "missing"]);
    // The new generation's answers come from the shared states: the files are not asked again.
    rmSync(join(units, "a.service"));
    const next = diskUnitDirectory(join(d, "new"), { sharedStates });
    assert.is(next.resolved, old.resolved);
    assert.equal(["a.service", "l.service", "none.service"].map((n) => next.fileState(n)), ["present", "present", "missing"]);
    // A directory that resolves elsewhere, or one not sharing, asks for itself.
    assert.is(diskUnitDirectory(join(d, "other"), { sharedStates }).fileState("l.service"), "missing");
    assert.is(diskUnitDirectory(join(d, "new")).fileState("l.service"), "missing");
    assert.equal(sharedStates.size, 2);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("the unit files read from one directory are bounded in total", () => {
  const d = tempDir("stagehand-dir-");
  for (let i = 0; i < 5; i++) writeFileSync(join(d, `u${i}.service`), `[Unit]\nDescription=${"x".repeat(1000)}\n`);
  const dir = diskUnitDirectory(d, { maxTotalBytes: 3000 });
  dir.content!("u0.service");
  dir.content!("u1.service");
  dir.content!("u1.service"); // read once
  assert.throws(() => dir.content!("u2.service"), (e: Error) => e instanceof UnitDirectoryError && e.path === d && /add up to more than the 3000 bytes/.test(e.message));
});

test.run();
