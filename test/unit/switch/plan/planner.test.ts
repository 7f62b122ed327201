/**
 * The active-unit pass of the planner (planner.ts): the plan-related specialisations of
 * nixos/tests/switch-test.nix, as dry-activate lines; the rules for a changed unit are in
 * modified.test.ts.
 * (The NixOS test asserts the `switch` wording: "stopping" here is "would stop", and so on.)
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { activeUnits, dryLines, generation, planBetween, simpleService, TRUE, unit } from "../helpers.ts";
import { dryActivateLines } from "../../../../src/switch/plan/print.ts";
import { planSwitch, planSwitchReadingFragments } from "../../../../src/switch/plan/planner.ts";
import type { ActiveUnit } from "../../../../src/switch/plan/model.ts";
import { diskUnitDirectory } from "../../../../src/units/dir.ts";

const ACT = "would activate the configuration...";
const TARGETS = { "multi-user.target": unit({ Unit: { Description: "Multi-User System" } }), "sockets.target": unit({ Unit: { Description: "Sockets" } }) };

test("simpleService: unchanged, description only, and not active are all no-ops", () => {
  const a = { ...TARGETS, "test.service": simpleService() };
  assert.equal(dryLines(a, a, activeUnits("test.service", "multi-user.target")), [ACT]);
  assert.equal(dryLines(a, { ...TARGETS, "test.service": simpleService({}, { Description: "Test unit" }) }, activeUnits("test.service")), [ACT]);
  // A new unit is started by its target (filtered from the output), not by the planner.
  assert.equal(dryLines(TARGETS, a, activeUnits("multi-user.target")), [ACT]);
});

test("simpleServiceModified: stopped and started", () => {
  assert.equal(dryLines({ "test.service": simpleService() }, { "test.service": simpleService({ "X-Test": "true" }) }, activeUnits("test.service")),
    ["would stop the following units: test.service", ACT, "would start the following units: test.service"]);
});

test("simpleServiceWithExtraSection / OtherName / InstallSection / ExtraKey*", () => {
  const nostop = simpleService({ "X-StopIfChanged": "false" });
  const pkgUnit = (t: string) => ({ "test.service": t, "test.service.d/overrides.conf": nostop });
  const a = activeUnits("test.service");
  const restart = [ACT, "would restart the following units: test.service"];
  assert.equal(dryLines({ "test.service": nostop }, pkgUnit("[X-Test]\nX-Test-Value=a\n"), a), restart);
  assert.equal(dryLines(pkgUnit("[X-Test]\nX-Test-Value=a\n"), pkgUnit("[X-Test2]\nX-Test-Value=a\n"), a), restart);
  assert.equal(dryLines(pkgUnit("[X-Test2]\nX-Test-Value=a\n"), { "test.service": nostop }, a), restart);
  assert.equal(dryLines({ "test.service": nostop }, pkgUnit("[Install]\nWantedBy=multi-user.target\n"), a), [ACT]);
  const key = (k: string, v: string) => ({ "test.service": simpleService({ "X-StopIfChanged": "false", [k]: v }) });
  assert.equal(dryLines({ "test.service": nostop }, key("X-Test", "test"), a), restart);
  assert.equal(dryLines(key("X-Test", "test"), key("X-Test", "test2"), a), restart);
  assert.equal(dryLines(key("X-Test", "test2"), key("X-Test2", "test"), a), restart);
});

test("simpleServiceReloadTrigger*", () => {
  const t = (trig?: string, extra: Record<string, string> = {}) => ({ "test.service": simpleService({ "X-StopIfChanged": "false", ...extra }, trig ? { "X-Reload-Triggers": trig } : {}) });
  const a = activeUnits("test.service");
  assert.equal(dryLines(t(), t("/dev/null"), a), [ACT, "would reload the following units: test.service"]);
  assert.equal(dryLines(t("/dev/null"), t("/dev/zero"), a), [ACT, "would reload the following units: test.service"]);
  assert.equal(dryLines(t("/dev/zero"), t("/dev/zero", { "X-Test": "test" }), a), [ACT, "would restart the following units: test.service"]);
  assert.equal(dryLines(t("/dev/zero", { "X-Test": "test" }), t(undefined, { "X-Test": "test" }), a), [ACT]);
});

test("unitWithMultilineValue: a multi-line ExecStart with comment lines is parsed, not ignored", () => {
  const multi = `[Service]\nExecStart=${TRUE} \\\n# ignored\n; ignored\n  blah blah\n`;
  assert.equal(dryLines({ "test.service": simpleService() }, { "test.service": multi }, activeUnits("test.service")),
    ["would stop the following units: test.service", ACT, "would start the following units: test.service"]);
});

test("unitWithBackslash*, unitStartingWithDash*", () => {
  const esc = "escaped\\x2ddash.service";
  assert.equal(dryLines({ [esc]: simpleService() }, { [esc]: simpleService({ "X-Test": "test" }) }, activeUnits(esc)),
    [`would stop the following units: ${esc}`, ACT, `would start the following units: ${esc}`]);
  // removed when switching to unitStartingWithDash
  assert.equal(dryLines({ [esc]: simpleService() }, { "-.service": simpleService() }, activeUnits(esc)),
    [`would stop the following units: ${esc}`, ACT]);
  const dash = unit({ Service: { Type: "oneshot", RemainAfterExit: "true", ExecStart: TRUE } });
  const dashMod = unit({ Service: { Type: "oneshot", RemainAfterExit: "true", ExecStart: TRUE, "X-ReloadIfChanged": "true", ExecReload: TRUE } });
  assert.equal(dryLines({ "-.service": dash }, { "-.service": dashMod }, activeUnits("-.service")), [ACT, "would reload the following units: -.service"]);
});

test("unitWithRequirement*", () => {
  const req = simpleService();
  const ts = (extraUnit: Record<string, string> = {}) => simpleService({}, { Requires: "required-service.service", ...extraUnit });
  const a = activeUnits("required-service.service", "test-service.service");
  const plan = planBetween(generation({ "required-service.service": req, "test-service.service": ts() }),
    generation({ "required-service.service": simpleService({ "X-Test": "test" }), "test-service.service": ts({ "X-Reload-Triggers": "test" }) }), a);
  assert.equal(dryActivateLines(plan), ["would stop the following units: required-service.service", ACT,
    "would reload the following units: test-service.service", "would start the following units: required-service.service"]);
  assert.equal(dryLines({ "required-service.service": simpleService({ "X-Test": "test" }), "test-service.service": ts({ "X-Reload-Triggers": "test" }) },
    { "required-service.service": req, "test-service.service": ts({ RefuseManualStart: "true" }) }, a),
    ["would stop the following units: required-service.service", ACT, "would start the following units: required-service.service"]);
});

test("unitWithTemplate*: instances as drop-ins restart when the template changes", () => {
  const gen = (extra: Record<string, string>) => ({
    "instantiated@.service": simpleService(extra),
    "instantiated@one.service.d/overrides.conf": "[Unit]\n",
    "instantiated@two.service.d/overrides.conf": "[Unit]\n",
  });
  assert.equal(dryLines(gen({}), gen({ "X-Test": "test" }), activeUnits("instantiated@one.service", "instantiated@two.service")),
    ["would stop the following units: instantiated@one.service, instantiated@two.service", ACT,
      "would start the following units: instantiated@one.service, instantiated@two.service"]);
});

test("template instances: removed or masked drop-ins stop the instance; manual instances keep running", () => {
  const old = { "inst@.service": simpleService(), "inst@one.service.d/overrides.conf": "[Unit]\n" };
  const a = activeUnits("inst@one.service", "inst@manual.service");
  assert.equal(dryLines(old, { "inst@.service": simpleService() }, a), ["would stop the following units: inst@one.service", ACT]);
  assert.equal(dryLines(old, { "inst@.service": simpleService(), "inst@one.service.d/overrides.conf": null }, a), ["would stop the following units: inst@one.service", ACT]);
  assert.equal(dryLines(old, old, a), [ACT]);
  // X-StopOnRemoval=false keeps a removed unit running
  assert.equal(dryLines({ "k.service": simpleService({}, { "X-StopOnRemoval": "false" }) }, {}, activeUnits("k.service")), [ACT]);
  // masking the unit itself stops it
  assert.equal(dryLines({ "k.service": simpleService() }, { "k.service": null }, activeUnits("k.service")), ["would stop the following units: k.service", ACT]);
});

test("target*, hybridSleepModified: targets restarted silently, X-StopOnReconfiguration, sleep targets ignored", () => {
  const t = (u: Record<string, string> = {}) => ({ "test-target.target": unit({ Unit: { ...u } }), "hybrid-sleep.target": unit({ Unit: { Description: "Hybrid" } }) });
  const a = activeUnits("test-target.target", "hybrid-sleep.target");
  const p = planBetween(generation(t()), generation(t({ "X-Test": "true" })), a);
  assert.equal(dryActivateLines(p), [ACT]);
  assert.equal(Object.keys(p.start), ["test-target.target"]);
  assert.equal(p.hidden, ["test-target.target"]);
  const p2 = planBetween(generation(t()), generation(t({ "X-StopOnReconfiguration": "true" })), a);
  assert.equal(dryActivateLines(p2), [ACT]);
  assert.ok(Object.hasOwn(p2.stop, "test-target.target") && Object.hasOwn(p2.start, "test-target.target"));
  // STC_DISPLAY_ALL_UNITS=1 shows them
  const p3 = planBetween(generation(t()), generation(t({ "X-StopOnReconfiguration": "true" })), a, { displayAllUnits: true });
  assert.equal(dryActivateLines(p3), ["would stop the following units: test-target.target", ACT, "would start the following units: test-target.target"]);
  // RefuseManualStart / X-OnlyManualStart targets are not started
  assert.equal(Object.keys(planBetween(generation(t()), generation(t({ RefuseManualStart: "true" })), a).start), []);
  // hybridSleepModified: the modified sleep target does nothing; a removed target is stopped
  const hs = { "hybrid-sleep.target": unit({ Unit: { Description: "Hybrid", "X-Test": "true" } }) };
  assert.equal(dryLines(t(), hs, a), ["would stop the following units: test-target.target", ACT]);
});

test("generators: units not loaded from /etc/systemd/system are left alone", () => {
  const active = { "simple-generated.service": { activeState: "active", subState: "running", fragmentPath: "/run/systemd/generator/simple-generated.service" } };
  assert.equal(dryLines({ "simple-generated.service": simpleService() }, {}, active), [ACT]);
  // no fragment path at all (as D-Bus gives "" for transient units) is not ours either
  assert.equal(dryLines({ "x.service": simpleService() }, {}, { "x.service": { activeState: "active", subState: "running", fragmentPath: "" } }), [ACT]);
});

test("inactive/failed units are not compared; activating ones are", () => {
  const old = { "a.service": simpleService(), "b.service": simpleService() };
  const next = { "a.service": simpleService({ X: "1" }), "b.service": simpleService({ X: "1" }) };
  const active = { "a.service": { activeState: "failed", subState: "failed" }, "b.service": { activeState: "activating", subState: "start" } };
  assert.equal(dryLines(old, next, active), ["would stop the following units: b.service", ACT, "would start the following units: b.service"]);
});

test("list files of an interrupted switch are resumed", () => {
  const g = { "a.service": simpleService() };
  assert.equal(dryLines(g, g, {}, { lists: { start: ["x.service", ""], restart: ["y.service"], reload: ["Z.service"] } }),
    [ACT, "would reload the following units: Z.service", "would restart the following units: y.service", "would start the following units: x.service"]);
});

test("modifiedSystemConf: a new system.conf or systemd binary re-executes systemd", () => {
  const sd = (conf: string, pid1 = "/nix/store/s-systemd/lib/systemd/systemd") => ({ currentPid1: "/nix/store/s-systemd/lib/systemd/systemd", newPid1: pid1, currentSystemConf: "/nix/store/a-system.conf", newSystemConf: conf });
  assert.equal(dryLines({}, {}, {}, { systemd: sd("/nix/store/a-system.conf") }), [ACT]);
  const p = planBetween(generation({}), generation({}), {}, { systemd: sd("/nix/store/b-system.conf") });
  assert.equal(dryActivateLines(p), [ACT, "would restart systemd"]);
  assert.match(p.restartSystemdReason!, /system\.conf changed/);
  assert.is(planBetween(generation({}), generation({}), {}, { systemd: sd("/nix/store/a-system.conf", "/nix/store/t-systemd/lib/systemd/systemd") }).restartSystemd, true);
});

test("reading FragmentPath only for the units a probe pass touched plans the same as reading it for all", async () => {
  const sock = unit({ Socket: { ListenStream: "/run/s.sock" } });
  const oldFiles = {
    "changed.service": simpleService(), "same.service": simpleService(), "generated.service": simpleService(),
    "s.socket": sock, "s.service": simpleService(), "gone.service": simpleService(), "multi-user.target": unit({ Unit: {} }),
    "reloading.service": simpleService({ "X-ReloadIfChanged": "true" }),
  };
  const newFiles = {
    ...oldFiles, "changed.service": simpleService({ "X-Test": "1" }), "generated.service": simpleService({ "X-Test": "2" }),
    "s.service": simpleService({ "X-Test": "3" }), "reloading.service": simpleService({ "X-ReloadIfChanged": "true", "X-Test": "4" }),
  } as Record<string, string>;
  delete newFiles["gone.service"];
  const [a, b] = [generation(oldFiles), generation(newFiles)];
  const full = activeUnits(...Object.keys(oldFiles));
  full["generated.service"]!.fragmentPath = "/run/systemd/generator/generated.service";
  const lists = { reload: ["changed.service"], start: ["same.service"] };
  const expected = planBetween(a, b, full, { lists });

  const bare: Record<string, ActiveUnit> = Object.fromEntries(Object.entries(full).map(([n, s]) => [n, { activeState: s.activeState, subState: s.subState }]));
  const touched = new Set<string>();
  planBetween(a, b, bare, { lists, touched });
  assert.ok(touched.has("generated.service") && touched.has("changed.service") && touched.has("multi-user.target"));
  assert.not.ok(touched.has("same.service"));
  const partial = Object.fromEntries(Object.entries(bare).map(([n, s]) => [n, touched.has(n) ? full[n]! : s]));
  assert.equal(planBetween(a, b, partial, { lists }), expected);
  assert.not.ok(Object.hasOwn(expected.restart, "generated.service") || Object.hasOwn(expected.stop, "generated.service"));

  // planSwitchReadingFragments: the same plan, reading only the touched units' paths.
  const input = { old: diskUnitDirectory(join(a, "etc/systemd/system")), new: diskUnitDirectory(join(b, "etc/systemd/system")), lists };
  const reads: string[][] = [];
  const reader = (from: Record<string, ActiveUnit>) => async (_: Record<string, ActiveUnit>, units: Set<string>) => {
    reads.push([...units]);
    return Object.fromEntries(Object.entries(bare).map(([n, s]) => [n, units.has(n) ? from[n]! : s]));
  };
  const withGenerated = await planSwitchReadingFragments(input, bare, reader(full));
  assert.equal(withGenerated.plan, expected, "a touched unit turned out generated: planned again");
  assert.is(withGenerated.active["generated.service"]!.fragmentPath, "/run/systemd/generator/generated.service");
  // Every touched unit ours: the probe stands, and it is the plan a full read gives.
  const allOurs = { ...full, "generated.service": { ...full["generated.service"]!, fragmentPath: "/etc/systemd/system/generated.service" } };
  const probeStands = await planSwitchReadingFragments(input, bare, reader(allOurs));
  assert.equal(probeStands.plan, planBetween(a, b, allOurs, { lists }));
  assert.equal(reads.length, 2, "one read of fragments per plan");
});

test("a unit that cannot be loaded in the probe pass makes the plan be made again (its error is not swallowed)", async () => {
  const oldFiles = { "bad.service": simpleService(), "ok.service": simpleService() };
  const [a, b] = [generation(oldFiles), generation({ ...oldFiles, "bad.service": "[Service]\nExecStart=" + "x".repeat(2 << 20) + "\n" })];
  const input = { old: diskUnitDirectory(join(a, "etc/systemd/system")), new: diskUnitDirectory(join(b, "etc/systemd/system")) };
  const bare = activeUnits("bad.service", "ok.service");
  let direct: unknown;
  try { planSwitch({ ...input, active: bare }); } catch (e) { direct = e; }
  let viaProbe: unknown;
  try { await planSwitchReadingFragments(input, bare, async (x) => x); } catch (e) { viaProbe = e; }
  assert.ok(direct instanceof Error, "the fixture must fail to load");
  assert.is((viaProbe as Error)?.message, (direct as Error).message);
});

test("a running unit file that cannot be read (too long a line, a FIFO, a bad header) is taken as changed, never a wedge; the new generation's still stops the plan", () => {
  const fixed = simpleService();
  const broken = "[Service]\nExecStart=" + "x".repeat(2 << 20) + "\n";
  const a = generation({ "big.service": broken, "bad.service": "[Service\n", "fifo.service": fixed, "gone.service": broken, "ok.service": fixed });
  execFileSync("sh", ["-c", `rm ${a}/etc/systemd/system/fifo.service && mkfifo ${a}/etc/systemd/system/fifo.service`]);
  const b = generation({ "big.service": fixed, "bad.service": fixed, "fifo.service": fixed, "ok.service": fixed });
  const plan = planBetween(a, b, activeUnits("big.service", "bad.service", "fifo.service", "gone.service", "ok.service"));
  assert.equal(Object.keys(plan.stop).sort(), ["bad.service", "big.service", "fifo.service", "gone.service"]);
  assert.equal(Object.keys(plan.start).sort(), ["bad.service", "big.service", "fifo.service"]);
  assert.match(plan.stop["big.service"]!, /its running unit file cannot be read \(.*big\.service:2: line too long/);
  assert.match(plan.stop["fifo.service"]!, /cannot be read \(.*is a FIFO, not a regular file/);
  assert.match(plan.stop["gone.service"]!, /^removed from the new generation \(its running unit file cannot be read, .*X-StopOnRemoval taken as true\)$/);
  // The new side is what gets applied: its error is the plan's.
  assert.throws(() => planBetween(b, a, activeUnits("big.service", "ok.service")), /big\.service:2: line too long/);
});

test("a running unit file that is a symlink loop is taken as changed (it wedged every switch away from it); a new one stops the plan by name", () => {
  const a = generation({ "loop.service": { link: "loop.service" }, "gone.service": { link: "gone.service" }, "ok.service": simpleService() });
  const b = generation({ "loop.service": simpleService(), "ok.service": simpleService() });
  const plan = planBetween(a, b, activeUnits("loop.service", "gone.service", "ok.service"));
  assert.equal(Object.keys(plan.stop).sort(), ["gone.service", "loop.service"]);
  assert.equal(Object.keys(plan.start), ["loop.service"]);
  assert.match(plan.stop["loop.service"]!, /its running unit file cannot be read \(.*loop\.service: .*ELOOP/);
  assert.throws(() => planBetween(b, a, activeUnits("loop.service", "ok.service")), /loop\.service: .*ELOOP/);
});

test("the running generation's drop-ins as systemd loaded them: a dangling or looping one was skipped (no change, X-StopOnRemoval=false kept)", () => {
  const nostop = simpleService({}, { "X-StopOnRemoval": "false" });
  const a = generation({
    "same.service": simpleService(), "same.service.d/x.conf": { link: "/nonexistent" },
    "loop.service": simpleService(), "loop.service.d/loop.conf": { link: "loop.conf" },
    "keep.service": nostop, "keep.service.d/x.conf": { link: "/nonexistent" },
  });
  const b = generation({ "same.service": simpleService(), "loop.service": simpleService() });
  const plan = planBetween(a, b, activeUnits("same.service", "loop.service", "keep.service"));
  assert.equal([Object.keys(plan.stop), Object.keys(plan.start), Object.keys(plan.restart)], [[], [], []]);
  // The new generation's are what gets applied: as ng, a dangling one there stops the plan.
  assert.throws(() => planBetween(b, a, activeUnits("same.service")), /x\.conf: dangling drop-in symlink/);
});

test("--diff of a unit whose running file cannot be read names why instead of failing", () => {
  const a = generation({ "fifo.service": simpleService() });
  execFileSync("sh", ["-c", `rm ${a}/etc/systemd/system/fifo.service && mkfifo ${a}/etc/systemd/system/fifo.service`]);
  const b = generation({ "fifo.service": simpleService({ "X-New": "1" }) });
  const oldDir = diskUnitDirectory(join(a, "etc/systemd/system"));
  const newDir = diskUnitDirectory(join(b, "etc/systemd/system"));
  const plan = planSwitch({ old: oldDir, new: newDir, active: activeUnits("fifo.service") });
  const lines = dryActivateLines(plan, { diff: { old: oldDir, new: newDir } });
  assert.ok(lines.some((l) => /^ {4}-# cannot be read: .*fifo\.service: is a FIFO, not a regular file$/.test(l)), lines.join("\n"));
});

test("units linked to the same store files are unchanged; a changed drop-in link still restarts", () => {
  const store = generation({ "a.service": simpleService(), "b.service": simpleService(), "x.conf": unit({ Service: { Environment: "A=1" } }), "y.conf": unit({ Service: { Environment: "A=2" } }) });
  const s = (f: string) => ({ link: join(store, "etc/systemd/system", f) });
  const old = { "a.service": s("a.service"), "b.service": s("b.service"), "b.service.d/o.conf": s("x.conf") };
  const next = { ...old, "b.service.d/o.conf": s("y.conf") };
  assert.equal(dryLines(old, old, activeUnits("a.service", "b.service")), [ACT]);
  assert.equal(dryLines(old, next, activeUnits("a.service", "b.service")),
    ["would stop the following units: b.service", ACT, "would start the following units: b.service"]);
});

test.run();
