/** --explain, --diff and --json printers, and `stagehand plan OLD NEW`. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { diskUnitDirectory } from "../../../../src/units/dir.ts";
import { dryActivateLines, planToJson } from "../../../../src/switch/plan/print.ts";
import { activeUnits, generation, planBetween, simpleService } from "../helpers.ts";

const oldFiles = { "test.service": simpleService(), "nostop.service": simpleService({ "X-StopIfChanged": "false" }), "gone.service": simpleService() };
const newFiles = { "test.service": simpleService({ "X-Test": "true" }), "nostop.service": simpleService({ "X-StopIfChanged": "false", Nice: "5" }) };
const ACTIVE = activeUnits("test.service", "nostop.service", "gone.service");

test("--explain: one reason line after each unit; default lines unchanged", () => {
  const plan = planBetween(generation(oldFiles), generation(newFiles), ACTIVE);
  assert.equal(dryActivateLines(plan), [
    "would stop the following units: gone.service, test.service",
    "would activate the configuration...",
    "would restart the following units: nostop.service",
    "would start the following units: test.service",
  ]);
  assert.equal(dryActivateLines(plan, { explain: true }), [
    "would stop the following units: gone.service, test.service",
    "  gone.service: removed from the new generation (X-StopOnRemoval is not false)",
    "  test.service: [Service] X-Test= added; stopped and started",
    "would activate the configuration...",
    "would restart the following units: nostop.service",
    "  nostop.service: [Service] Nice= added; [Service] X-StopIfChanged=false",
    "would start the following units: test.service",
    "  test.service: [Service] X-Test= added; stopped and started",
  ]);
});

test("--diff: a unified diff of the unit file for restarted units", () => {
  const o = generation(oldFiles), n = generation(newFiles);
  const plan = planBetween(o, n, ACTIVE);
  const lines = dryActivateLines(plan, { diff: { old: diskUnitDirectory(join(o, "etc/systemd/system")), new: diskUnitDirectory(join(n, "etc/systemd/system")) } });
  const i = lines.indexOf("would restart the following units: nostop.service");
  assert.ok(i >= 0);
  assert.is(lines[i + 1], "    --- a/nostop.service");
  assert.is(lines[i + 2], "    +++ b/nostop.service");
  assert.ok(lines.includes("    +Nice=5"), lines.join("\n"));
  // a stopped-and-started unit's diff is under "would start"
  const j = lines.indexOf("would start the following units: test.service");
  assert.ok(j > i && lines.slice(j).includes("    +X-Test=true"), lines.join("\n"));
});

test("--json document: sorted entries with reasons, hidden targets marked", () => {
  const plan = planBetween(generation(oldFiles), generation(newFiles), ACTIVE);
  const j = JSON.parse(JSON.stringify(planToJson(plan)));
  assert.equal(j.stop, [
    { unit: "gone.service", reason: "removed from the new generation (X-StopOnRemoval is not false)" },
    { unit: "test.service", reason: "[Service] X-Test= added; stopped and started" },
  ]);
  assert.equal(j.restart.map((e: { unit: string }) => e.unit), ["nostop.service"]);
  assert.equal(j.reload, []);
  assert.equal(j.skip, []);
  assert.is(j.restartSystemd, false);
  assert.is(j.version, 1);
});

const cli = (...args: string[]) => spawnSync(process.execPath, [join(import.meta.dir, "../../../../src/main.ts"), ...args], { encoding: "utf8" });

test("stagehand plan OLD NEW: dry-activate lines, --json, --active, assumptions", () => {
  const o = generation(oldFiles, "tmpfs /t tmpfs defaults 0 0\n/swapfile none swap defaults\n");
  const n = generation(newFiles, "tmpfs /t tmpfs size=1M 0 0\n");
  const r = cli("plan", o, n);
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.split("\n"), [
    "would stop swap device: /swapfile",
    "would stop the following units: gone.service, test.service",
    "would activate the configuration...",
    "would reload the following units: t.mount",
    "would restart the following units: nostop.service",
    "would start the following units: test.service", ""]);
  assert.match(r.stderr, /every unit with a file in .* is active/);
  const activeFile = join(o, "active.json");
  writeFileSync(activeFile, JSON.stringify({ "nostop.service": { activeState: "active", subState: "running" } }));
  const j = JSON.parse(cli("plan", o, n, "--json", "--active", activeFile).stdout);
  assert.equal(j.stop, []);
  assert.equal(j.restart.map((e: { unit: string }) => e.unit), ["nostop.service"]);
  assert.equal(j.swapsToStop, [{ device: "/swapfile", reason: "fstab: swap entry removed (turned off with swapoff)" }]);
  assert.not.ok(j.assumptions.some((a: string) => a.includes("every unit")));
});

test("stagehand plan: bad input is exit 1 naming the path", () => {
  const o = generation({ "test.service": "[Service]\nExecStart=/a\n[Broken\n" });
  const n = generation(newFiles);
  // In the new generation: what would be applied. (A running unit that cannot be read is taken as changed: planner.test.ts.)
  const r = cli("plan", n, o);
  assert.is(r.status, 1);
  assert.match(r.stderr, /test\.service:3: invalid section header/);
  assert.not.match(r.stderr, /Broken/, "the refused line is not printed");
  const missing = cli("plan", "/nonexistent-generation", n);
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent-generation\/etc\/systemd\/system: no etc\/systemd\/system/);
});

test.run();
