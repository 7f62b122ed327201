/**
 * Property: for seeded random pairs of NixOS-like generations (test/harness/random-generation.ts:
 * every rule family of the planner, masks, drop-ins, templates, fstab mounts and swaps, a changed
 * system.conf), what the built binary prints for `plan OLD NEW --json` matches
 * docs/schemas/unit-plan.schema.json, with and without --active. Replay one case with
 * STAGEHAND_FUZZ_SEED=N.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GenerationSpec } from "../../harness/generation.ts";
import { mutate, randomSystem, subSeed, toSpec } from "../../harness/random-generation.ts";
import { fuzzSeeds } from "../../harness/random.ts";
import { generation, type Fixture } from "../switch/helpers.ts";
import { tempDir } from "../tmp.ts";
import { schemaErrors, stagehand } from "./validate.ts";

/** One shared file per system.conf text, so equal configurations resolve to the same path (no re-exec). */
const confDir = tempDir("schema-conf-");
function systemConf(text: string): string {
  const p = join(confDir, Buffer.from(text).toString("hex").slice(0, 60));
  writeFileSync(p, text);
  return p;
}

/** A generation directory on the host from a harness GenerationSpec. */
function materialize(spec: GenerationSpec): string {
  const files: Record<string, Fixture> = {};
  for (const [rel, e] of Object.entries(spec.units ?? {})) files[rel] = e !== null && typeof e === "object" ? { link: e.symlink } : e;
  for (const [unit, targets] of Object.entries(spec.wantedBy ?? {})) for (const t of targets) files[`${t}.wants/${unit}`] ??= { link: `../${unit}` };
  const top = generation(files, spec.fstab);
  mkdirSync(join(top, "etc/systemd"), { recursive: true });
  symlinkSync(systemConf(spec.systemConf ?? "[Manager]\n"), join(top, "etc/systemd/system.conf"));
  return top;
}

test("plan OLD NEW --json on random generation pairs matches the schema", () => {
  const seeds = fuzzSeeds(20);
  let reexec = 0;
  for (const seed of seeds) {
    const before = randomSystem(subSeed(seed, 1));
    const { next } = mutate(before, subSeed(seed, 2));
    const oldTop = materialize(toSpec(before, "old"));
    const newTop = materialize(toSpec(next, "new"));
    const args = ["plan", oldTop, newTop, "--json"];
    if (seed % 3 === 0) {
      // Active: what the old system runs, as the switch would find it.
      const active = Object.fromEntries(before.wanted.map((u) => [u, { activeState: "active", subState: "running" }]));
      const file = join(oldTop, "active.json");
      writeFileSync(file, JSON.stringify(active));
      args.push("--active", file);
    }
    const r = stagehand(args);
    assert.is(r.status, 0, `seed ${seed}: exit ${r.status}\n${r.stderr}`);
    const doc = JSON.parse(r.stdout) as { restartSystemd: boolean };
    const errors = schemaErrors("unit-plan", doc);
    assert.equal(errors, [], `seed ${seed}: ${errors.join("\n")}\n${r.stdout}`);
    if (doc.restartSystemd) reexec++;
  }
  if (seeds.length > 1) assert.ok(reexec > 0 && reexec < seeds.length, `re-exec in ${reexec} of ${seeds.length} plans`);
});

test.run();
