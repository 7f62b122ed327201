/**
 * Seeded fuzzing of the fstab parser and the planner's fstab pass (issue 14 §5): random text and
 * mangled fstab lines always parse (fstab is read like ng reads it: odd lines are skipped), every
 * mount point yields a unit name, the result has no prototype to pollute, and planning between two
 * random fstabs ends in a plan. Replay one case: STAGEHAND_FUZZ_SEED=N bun test/unit/fstab/fstab-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { automountUnitName, mountUnitName } from "../../../src/fstab/escape.ts";
import { parseFstab } from "../../../src/fstab/fstab.ts";
import { planSwitch } from "../../../src/switch/plan/index.ts";
import { memoryUnitDirectory } from "../../../src/units/dir.ts";

const FIELDS = ["/", "/nix", "/mnt/a b", "/mnt/é", "__proto__", "constructor", "tmpfs", "swap", "/dev/sda1", "noauto", "x-systemd.automount",
  "defaults", "0", "#", "\\040", "/a/./b", "//x//", "", "\u00a0", "\0", "\r"];

function mangledFstab(r: Random): string {
  let s = "";
  for (let i = r.int(25); i > 0; i--) {
    const n = r.int(7);
    const fields = Array.from({ length: n }, () => (r.chance(0.1) ? Buffer.from(r.bytes(r.int(8))).toString("latin1") : r.pick(FIELDS)));
    s += fields.join(r.pick([" ", "\t", "  ", " \t "])) + r.pick(["\n", "\n", "\r\n", "\r", ""]);
  }
  return s;
}

function check(seed: number, text: string): void {
  let f;
  try {
    f = parseFstab(text);
  } catch (e) {
    throw new Error(`seed ${seed}: parseFstab threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  assert.is(Object.getPrototypeOf(f.filesystems), null, `seed ${seed}`);
  assert.is(Object.getPrototypeOf(f.swaps), null, `seed ${seed}`);
  for (const [mp, fs] of Object.entries(f.filesystems)) {
    assert.ok(typeof fs.device === "string" && typeof fs.fsType === "string" && typeof fs.options === "string" && fs.line >= 1, `seed ${seed}: ${mp}`);
    assert.ok(mountUnitName(mp).endsWith(".mount") && automountUnitName(mp).endsWith(".automount"), `seed ${seed}: ${JSON.stringify(mp)}`);
  }
  assert.is(({} as Record<string, unknown>).device, undefined, `seed ${seed}: Object.prototype untouched`);
}

test("random and mangled fstabs parse, and every mount point names a unit", () => {
  for (const seed of fuzzSeeds(500)) {
    const r = new Random(seed);
    check(seed, mangledFstab(r));
    check(seed, Buffer.from(r.bytes(r.int(1500))).toString("utf8"));
  }
});

test("planning between random fstabs ends in a plan whose fstab decisions name mount units", () => {
  const none = memoryUnitDirectory("/n", {});
  for (const seed of fuzzSeeds(300)) {
    const r = new Random(seed);
    const oldFstab = mangledFstab(r);
    // The new fstab: the old one with some lines changed, dropped or added.
    const lines = oldFstab.split("\n").filter(() => !r.chance(0.2));
    if (r.chance(0.5)) lines.push(mangledFstab(r));
    const newFstab = lines.map((l) => (r.chance(0.2) ? l.replace(/\S+$/, r.pick(FIELDS)) : l)).join("\n");
    let plan;
    try {
      plan = planSwitch({ old: none, new: none, active: {}, oldFstab, newFstab });
    } catch (e) {
      throw new Error(`seed ${seed}: planSwitch threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    for (const d of [plan.stop, plan.restart, plan.reload, plan.skip]) {
      for (const u of Object.keys(d)) assert.ok(u.endsWith(".mount") || u.endsWith(".automount"), `seed ${seed}: ${u}`);
    }
  }
});

test.run();
