/**
 * The plan-related specialisations of nixos/tests/switch-test.nix, as dry-activate lines.
 * (The NixOS test asserts the `switch` wording: "stopping" here is "would stop", and so on.)
 */
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { activeUnits, dryLines, generation, planBetween, simpleService, TRUE, unit } from "../helpers.ts";
import { dryActivateLines } from "../../../../src/switch/plan/print.ts";
import { activeUnitsFrom, listsToPersist, sortUnits } from "../../../../src/switch/plan/index.ts";

const ACT = "would activate the configuration...";
const TARGETS = { "multi-user.target": unit({ Unit: { Description: "Multi-User System" } }), "sockets.target": unit({ Unit: { Description: "Sockets" } }) };

test("sortUnits: by lower-cased name, then by name, both in code-point order (as Rust compares strings)", () => {
  const names = ["b.service", "A.service", "a.service", "a-b.service", "\u{1F600}.service", "\uFF21.service", "\uE000.service", "z.service", "a.service.d"];
  // The order by definition: split into code points, compare numerically.
  const byCodePoints = (x: string, y: string) => {
    const p = [...x].map((c) => c.codePointAt(0)!), q = [...y].map((c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(p.length, q.length); i++) if (p[i] !== q[i]) return p[i]! - q[i]!;
    return p.length - q.length;
  };
  const expected = [...names].sort((x, y) => byCodePoints(x.toLowerCase(), y.toLowerCase()) || byCodePoints(x, y));
  assert.equal(sortUnits(names), expected);
  // U+1F600 (a surrogate pair in UTF-16) sorts after U+FF21 and U+E000, unlike UTF-16 code-unit order.
  assert.equal(expected.slice(-3), ["\uE000.service", "\uFF21.service", "\u{1F600}.service"]);
  assert.equal(expected.slice(0, 2), ["a-b.service", "A.service"]);
});

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

test("simpleServiceNostop / Reload / Norestart", () => {
  const old = { "test.service": simpleService({ "X-Test": "true" }) };
  assert.equal(dryLines(old, { "test.service": simpleService({ "X-StopIfChanged": "false" }) }, activeUnits("test.service")),
    [ACT, "would restart the following units: test.service"]);
  assert.equal(dryLines({ "test.service": simpleService({ "X-StopIfChanged": "false" }) }, { "test.service": simpleService({ "X-ReloadIfChanged": "true" }) }, activeUnits("test.service")),
    [ACT, "would reload the following units: test.service"]);
  assert.equal(dryLines({ "test.service": simpleService({ "X-ReloadIfChanged": "true" }) }, { "test.service": simpleService({ "X-RestartIfChanged": "false" }) }, activeUnits("test.service")),
    ["would NOT stop the following changed units: test.service", ACT]);
  // dry-activate back to simpleService
  assert.equal(dryLines({ "test.service": simpleService({ "X-RestartIfChanged": "false" }) }, { "test.service": simpleService() }, activeUnits("test.service")),
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

test("simple-socket*: socket-activated services", () => {
  const sock = unit({ Unit: { Description: "socket" }, Socket: { ListenStream: "/run/test.sock", SocketMode: "0777" } });
  const svc = (extra: Record<string, string> = {}, u: Record<string, string> = {}) =>
    unit({ Unit: { Description: "A socket-activated service", ...u }, Service: { ExecStart: "/sock", ExecReload: TRUE, "X-StopIfChanged": "false", ...extra } });
  const g = (s: string) => ({ "socket-activated.socket": sock, "socket-activated.service": s, ...TARGETS });
  // service not active (never accessed): nothing happens
  assert.equal(dryLines(g(svc()), g(svc({ "X-Test": "test" })), activeUnits("socket-activated.socket")), [ACT]);
  // active, stopIfChanged=false: restarted
  const both = activeUnits("socket-activated.socket", "socket-activated.service");
  assert.equal(dryLines(g(svc({ "X-Test": "test" })), g(svc()), both), [ACT, "would restart the following units: socket-activated.service"]);
  // stopIfChanged=true: service and socket stopped, only the socket started
  assert.equal(dryLines(g(svc()), g(svc({ "X-StopIfChanged": "true" })), both),
    ["would stop the following units: socket-activated.service, socket-activated.socket", ACT, "would start the following units: socket-activated.socket"]);
  // reload trigger only: reloaded
  assert.equal(dryLines(g(svc({ "X-StopIfChanged": "true" })), g(svc({ "X-StopIfChanged": "true" }, { "X-Reload-Triggers": "test" })), both),
    [ACT, "would reload the following units: socket-activated.service"]);
  // X-NotSocketActivated: the service itself is started again too
  assert.equal(dryLines(g(svc({ "X-StopIfChanged": "true" })), g(svc({ "X-StopIfChanged": "true", "X-NotSocketActivated": "true" })), both),
    ["would stop the following units: socket-activated.service, socket-activated.socket", ACT, "would start the following units: socket-activated.service, socket-activated.socket"]);
  // Sockets= names the socket explicitly
  const named = (x: string) => ({ "other.socket": sock, "svc.service": unit({ Service: { ExecStart: x, Sockets: "other.socket" } }) });
  assert.equal(dryLines(named("/a"), named("/b"), activeUnits("other.socket", "svc.service")),
    ["would stop the following units: other.socket, svc.service", ACT, "would start the following units: other.socket"]);
  // a changed socket unit itself is left alone
  assert.equal(dryLines(g(svc()), { ...g(svc()), "socket-activated.socket": sock.replace("0777", "0700") }, both), [ACT]);
});

test("mount*: Options reloads, anything else restarts; / and /nix reload", () => {
  const m = (what: string, o: string) => ({ "testmount.mount": unit({ Unit: { Description: "Testmount" }, Mount: { What: what, Where: "/testmount", Type: what, Options: o } }) });
  const a = activeUnits("testmount.mount");
  assert.equal(dryLines(m("tmpfs", "size=1M"), m("tmpfs", "size=10M"), a), [ACT, "would reload the following units: testmount.mount"]);
  assert.equal(dryLines(m("tmpfs", "size=10M"), m("ramfs", "size=10M"), a), [ACT, "would restart the following units: testmount.mount"]);
  const root = (what: string) => ({ "-.mount": unit({ Mount: { What: what, Where: "/" } }), "nix.mount": unit({ Mount: { What: what, Where: "/nix" } }) });
  assert.equal(dryLines(root("/dev/a"), root("/dev/b"), activeUnits("-.mount", "nix.mount")), [ACT, "would reload the following units: -.mount, nix.mount"]);
});

test("timer*, path*, slice*: timers restart, paths and slices are left to daemon-reload", () => {
  const timer = (c: string) => ({ "test-timer.timer": unit({ Timer: { OnCalendar: c } }), "test-timer.service": unit({ Service: { Type: "oneshot", ExecStart: TRUE } }) });
  assert.equal(dryLines(timer("@1395716396"), timer("Fri 2012-11-23 16:00:00"), activeUnits("test-timer.timer")), [ACT, "would restart the following units: test-timer.timer"]);
  const path = (p: string) => ({ "test-watch.path": unit({ Path: { PathExists: p } }) });
  assert.equal(dryLines(path("/testpath"), path("/testpath2"), activeUnits("test-watch.path")), [ACT]);
  const slice = (m?: string) => ({ "testslice.slice": unit({ Unit: {}, Slice: m ? { MemoryMax: m } : {} }) });
  assert.equal(dryLines(slice("1"), slice(), activeUnits("testslice.slice")), [ACT]);
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

test("special targets and the sleep targets are never restarted even when changed", () => {
  const g = (d: string) => ({ "multi-user.target": unit({ Unit: { Wants: d } }), "suspend.target": unit({ Unit: { Wants: d } }) });
  const p = planBetween(generation(g("a")), generation(g("b")), activeUnits("multi-user.target", "suspend.target"));
  assert.equal(Object.keys(p.start), ["multi-user.target"]);
  assert.equal(dryActivateLines(p), [ACT]);
});

test("dbusReload: a restart trigger on a reload-if-changed service reloads it", () => {
  const d = (trig?: string) => ({ "dbus.service": unit({ Unit: trig ? { "X-Restart-Triggers": trig } : {}, Service: { ExecStart: "/dbus-daemon", ExecReload: "/reload", "X-ReloadIfChanged": "true", "X-StopIfChanged": "false" } }) });
  assert.equal(dryLines(d(), d("/nix/store/dbus-reload-dummy"), activeUnits("dbus.service")), [ACT, "would reload the following units: dbus.service"]);
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

test("ordering: by lower-cased name", () => {
  const names = ["b.service", "A.service", "a2.service", "C.service"];
  const files = Object.fromEntries(names.map((n) => [n, simpleService({ "X-StopIfChanged": "false" })]));
  const next = Object.fromEntries(names.map((n) => [n, simpleService({ "X-StopIfChanged": "false", X: "1" })]));
  assert.equal(dryLines(files, next, activeUnits(...names)), [ACT, "would restart the following units: A.service, a2.service, b.service, C.service"]);
});

test("modifiedSystemConf: a new system.conf or systemd binary re-executes systemd", () => {
  const sd = (conf: string, pid1 = "/nix/store/s-systemd/lib/systemd/systemd") => ({ currentPid1: "/nix/store/s-systemd/lib/systemd/systemd", newPid1: pid1, currentSystemConf: "/nix/store/a-system.conf", newSystemConf: conf });
  assert.equal(dryLines({}, {}, {}, { systemd: sd("/nix/store/a-system.conf") }), [ACT]);
  const p = planBetween(generation({}), generation({}), {}, { systemd: sd("/nix/store/b-system.conf") });
  assert.equal(dryActivateLines(p), [ACT, "would restart systemd"]);
  assert.match(p.restartSystemdReason!, /system\.conf changed/);
  assert.is(planBetween(generation({}), generation({}), {}, { systemd: sd("/nix/store/a-system.conf", "/nix/store/t-systemd/lib/systemd/systemd") }).restartSystemd, true);
});

test("activeUnitsFrom keeps ng's filter; listsToPersist lists the sets", () => {
  const rows = [
    { name: "a.service", following: "", activeState: "active", subState: "running", fragmentPath: "/etc/systemd/system/a.service" },
    { name: "b.service", following: "", activeState: "inactive", subState: "dead" },
    { name: "dev-x.device", following: "sys-x.device", activeState: "active", subState: "plugged" },
    { name: "c.service", following: "", activeState: "failed", subState: "failed" },
  ];
  assert.equal(Object.keys(activeUnitsFrom(rows)), ["a.service", "c.service"]);
  const plan = planBetween(generation({ "t.service": simpleService() }), generation({ "t.service": simpleService({ X: "1" }) }), activeUnits("t.service"), { lists: { reload: ["r.service"] } });
  assert.equal(listsToPersist(plan), { start: ["t.service"], restart: [], reload: ["r.service"] });
});

test("reading FragmentPath only for the units a probe pass touched plans the same as reading it for all", () => {
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

  const bare = Object.fromEntries(Object.entries(full).map(([n, s]) => [n, { activeState: s.activeState, subState: s.subState }]));
  const touched = new Set<string>();
  planBetween(a, b, bare, { lists, touched });
  assert.ok(touched.has("generated.service") && touched.has("changed.service") && touched.has("multi-user.target"));
  assert.not.ok(touched.has("same.service"));
  const partial = Object.fromEntries(Object.entries(bare).map(([n, s]) => [n, touched.has(n) ? full[n]! : s]));
  assert.equal(planBetween(a, b, partial, { lists }), expected);
  assert.not.ok(Object.hasOwn(expected.restart, "generated.service") || Object.hasOwn(expected.stop, "generated.service"));
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
