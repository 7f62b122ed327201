/**
 * ng's handle_modified_unit rules (switch-test.nix's specialisations, as dry-activate lines): what a
 * changed service, socket, mount, timer, path, slice or target gets.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { activeUnits, dryLines, generation, planBetween, simpleService, TRUE, unit } from "../helpers.ts";
import { dryActivateLines } from "../../../../src/switch/plan/print.ts";

const ACT = "would activate the configuration...";
const TARGETS = { "multi-user.target": unit({ Unit: { Description: "Multi-User System" } }), "sockets.target": unit({ Unit: { Description: "Sockets" } }) };

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

test.run();
