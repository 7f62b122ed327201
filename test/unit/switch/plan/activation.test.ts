/** restart-and-reload-by-activation-script* of switch-test.nix, and the post-activation decisions. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { diskUnitDirectory, memoryUnitDirectory } from "../../../../src/units/dir.ts";
import { applyActivationRequests, newAndFailedUnits, reloadsAfterDaemonReload, emptyPlan, type ActiveUnit } from "../../../../src/switch/plan/index.ts";
import { dryActivateAfter, dryActivateBefore } from "../../../../src/switch/plan/print.ts";
import { activeUnits, generation, planBetween, simpleService, unit, TRUE } from "../helpers.ts";

const RESTART_LIST = ["simple-service.service", "simple-restart-service.service", "simple-reload-service.service", "no-restart-service.service",
  "reload-triggers-and-restart-by-as.service", "templated-simple-service@instance.service", "templated-simple-restart-service@instance.service",
  "templated-simple-reload-service@instance.service", "templated-no-restart-service@instance.service", "templated-reload-triggers-and-restart-by-as@instance.service"];
const RELOAD_LIST = ["reload-triggers.service", "reload-triggers-and-restart-by-as.service", "reload-triggers-and-restart.service",
  "templated-reload-triggers@instance.service", "templated-reload-triggers-and-restart-by-as@instance.service", "templated-reload-triggers-and-restart@instance.service"];

/** The restart-and-reload-by-activation-script generation (modified: the -modified one). */
function scriptGeneration(modified: boolean): Record<string, string> {
  const simple = (extra: Record<string, string> = {}) => simpleService(extra);
  const f: Record<string, string> = {};
  const both = (name: string, s: string, inst: string = "[Unit]\n") => {
    f[`${name}.service`] = s;
    f[`templated-${name}@.service`] = s;
    f[`templated-${name}@instance.service.d/overrides.conf`] = inst;
  };
  both("simple-service", simple());
  both("simple-restart-service", simple({ "X-StopIfChanged": "false" }));
  both("simple-reload-service", simple({ "X-ReloadIfChanged": "true" }));
  both("no-restart-service", simple({ "X-RestartIfChanged": "false" }));
  both("reload-triggers", simple());
  both("reload-triggers-and-restart-by-as", simple());
  f["reload-triggers-and-restart.service"] = simple({ "X-StopIfChanged": "false", ...(modified ? { "X-Modified": "test" } : {}) });
  f["templated-reload-triggers-and-restart@.service"] = simple();
  f["templated-reload-triggers-and-restart@instance.service.d/overrides.conf"] = unit({ Service: { "X-StopIfChanged": "false", ...(modified ? { "X-Modified": "test" } : {}) } });
  return f;
}
const ALL_UNITS = [...new Set([...RESTART_LIST, ...RELOAD_LIST])];

test("first switch: requested units that are not active are started", () => {
  const oldTop = generation({ "test.service": simpleService({ "X-RestartIfChanged": "false" }) });
  const newTop = generation(scriptGeneration(false));
  const active = activeUnits("test.service");
  const plan = planBetween(oldTop, newTop, active);
  assert.equal(dryActivateBefore(plan), ["would stop the following units: test.service"]);
  const newDir = diskUnitDirectory(join(newTop, "etc/systemd/system"));
  const after = applyActivationRequests(plan, { restart: RESTART_LIST, reload: RELOAD_LIST, active, old: newDir, new: newDir, dry: false });
  assert.equal(dryActivateAfter(after), [`would start the following units: ${[...RESTART_LIST].sort((a, b) => a.toLowerCase() < b.toLowerCase() ? -1 : 1).join(", ")}`]);
});

test("same generation again: restarts and reloads by the activation script", () => {
  const top = generation(scriptGeneration(false));
  const active = activeUnits(...ALL_UNITS, "reload-triggers-and-restart.service");
  const plan = planBetween(top, top, active);
  assert.equal(dryActivateBefore(plan), []);
  const dir = diskUnitDirectory(join(top, "etc/systemd/system"));
  const after = applyActivationRequests(plan, { restart: RESTART_LIST, reload: RELOAD_LIST, active, old: dir, new: dir, dry: false });
  assert.equal(dryActivateAfter(after), [
    "would reload the following units: reload-triggers-and-restart.service, reload-triggers.service, simple-reload-service.service, templated-reload-triggers-and-restart@instance.service, templated-reload-triggers@instance.service, templated-simple-reload-service@instance.service",
    "would restart the following units: reload-triggers-and-restart-by-as.service, simple-restart-service.service, simple-service.service, templated-reload-triggers-and-restart-by-as@instance.service, templated-simple-restart-service@instance.service, templated-simple-service@instance.service",
  ]);
  assert.ok(Object.hasOwn(after.skip, "no-restart-service.service") && Object.hasOwn(after.skip, "templated-no-restart-service@instance.service"));
  assert.is(Object.keys(plan.restart).length, 0, "the input plan is not modified");
});

test("modified (switch and dry-activate): a changed unit is restarted, its reload request ignored", () => {
  const oldTop = generation(scriptGeneration(false));
  const newTop = generation(scriptGeneration(true));
  const active = activeUnits(...ALL_UNITS, "reload-triggers-and-restart.service");
  const plan = planBetween(oldTop, newTop, active);
  const expected = [
    "would reload the following units: reload-triggers.service, simple-reload-service.service, templated-reload-triggers@instance.service, templated-simple-reload-service@instance.service",
    "would restart the following units: reload-triggers-and-restart-by-as.service, reload-triggers-and-restart.service, simple-restart-service.service, simple-service.service, templated-reload-triggers-and-restart-by-as@instance.service, templated-reload-triggers-and-restart@instance.service, templated-simple-restart-service@instance.service, templated-simple-service@instance.service",
  ];
  const oldDir = diskUnitDirectory(join(oldTop, "etc/systemd/system"));
  const newDir = diskUnitDirectory(join(newTop, "etc/systemd/system"));
  assert.equal(dryActivateAfter(applyActivationRequests(plan, { restart: RESTART_LIST, reload: RELOAD_LIST, active, old: oldDir, new: newDir, dry: true })), expected);
  assert.equal(dryActivateAfter(applyActivationRequests(plan, { restart: RESTART_LIST, reload: RELOAD_LIST, active, old: newDir, new: newDir, dry: false })), expected);
});

test("reloadsAfterDaemonReload: inactive units are started instead (unless RefuseManualStart), fstab mounts dropped", () => {
  const plan = emptyPlan();
  plan.reload["test-service.service"] = "[Unit] X-Reload-Triggers= changed";
  plan.reload["nostart.service"] = "x";
  plan.reload["only.service"] = "x";
  plan.reload["test.mount"] = "fstab";
  plan.reload["up.service"] = "x";
  const dir = memoryUnitDirectory("/n", {
    "test-service.service": simpleService(), "up.service": simpleService(),
    "nostart.service": simpleService({}, { RefuseManualStart: "true" }),
    "only.service": simpleService({}, { RefuseManualStart: "true", "X-OnlyManualStart": "true" }),
  });
  const r = reloadsAfterDaemonReload(plan, (u) => u === "up.service", dir);
  assert.equal(Object.keys(r.plan.reload), ["up.service"]);
  assert.equal(r.startedInstead, ["only.service", "test-service.service"]);
  assert.equal(r.dropped, ["nostart.service", "test.mount"]);
  assert.equal(Object.keys(r.plan.start).sort(), ["only.service", "test-service.service"]);
});

test("newAndFailedUnits: failed, auto-restart with a failed last run, new units without scopes", () => {
  const s = (activeState: string, subState = "running", execMainStatus?: number): ActiveUnit & { execMainStatus?: number } => ({ activeState, subState, ...(execMainStatus !== undefined ? { execMainStatus } : {}) });
  const before = activeUnits("old.service");
  const r = newAndFailedUnits(before, {
    "old.service": s("active"), "b.service": s("active"), "A.service": s("active"), "session-1.scope": s("active"),
    "f.service": s("failed", "failed"), "ar.service": s("activating", "auto-restart", 1), "ok-ar.service": s("activating", "auto-restart", 0),
  });
  assert.equal(r.failedUnits, ["ar.service", "f.service"]);
  assert.equal(r.newUnits, ["A.service", "b.service", "ok-ar.service"]);
});

test("an active unit the activation script asks to restart whose new file cannot be read is restarted, not an abort (issue 14)", () => {
  // ng aborts before removing activation-restart-list; the next activation appends to it and every
  // later switch aborts the same way.
  const dir = memoryUnitDirectory("/n", { "broken.service": "[Service\n" });
  const p = applyActivationRequests(emptyPlan(), { restart: ["gone.service", "broken.service"], reload: [], active: activeUnits("gone.service", "broken.service"), old: dir, new: dir, dry: false });
  assert.equal(Object.keys(p.restart).sort(), ["broken.service", "gone.service"]);
  assert.match(p.restart["gone.service"]!, /its new unit file cannot be read \(\/n\/gone\.service: unit file not found\)/);
  assert.match(p.restart["broken.service"]!, /\/n\/broken\.service:1: invalid section header/);
  void TRUE;
});

test("a line of the activation's restart list whose file cannot even be looked for (a path component too long) is started, not an abort", () => {
  // Thrown, it stopped the switch before the list was removed: every later switch stopped there.
  const dir = diskUnitDirectory(join(generation({}), "etc/systemd/system"));
  const junk = `a/${"x".repeat(5000)}@b.service`;
  for (const dry of [false, true]) {
    const p = applyActivationRequests(emptyPlan(), { restart: [junk], reload: [], active: {}, old: dir, new: dir, dry });
    assert.equal(Object.keys(p.start), [junk]);
  }
});

test.run();
