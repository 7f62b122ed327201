/**
 * End to end with systemd as PID 1: the compiled binary's D-Bus client (`stagehand systemd ...`)
 * inside a booted container, against units of a NixOS-like generation.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Container } from "../harness/container.ts";
import { buildGeneration, prepareBooted } from "../harness/generation.ts";
import type { Generation } from "../harness/generation.ts";

let c: Container;
let genA: Generation;

const units = {
  "sleeper.service": "[Unit]\nDescription=stagehand test sleeper\n[Service]\nExecStart=/bin/sleep infinity\nExecReload=/bin/true\n",
  "oneshot-ok.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
  "broken.service": "[Unit]\nDescription=always fails\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 3'\n",
  "needs-broken.service": "[Unit]\nRequires=broken.service\nAfter=broken.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
  "sleeper.service.d/env.conf": "[Service]\nEnvironment=FROM_DROPIN=1\n",
};

test.before(async () => {
  c = await Container.boot({
    name: "stagehand-dbus",
    prepare: (root) => {
      genA = buildGeneration(root, { name: "a", units, wantedBy: { "sleeper.service": ["multi-user.target"] } });
      prepareBooted(root, genA);
    },
  });
  c.installStagehand();
});

test.after(async () => {
  await c?.halt();
});

const stagehand = (...args: string[]) => c.exec(["stagehand", "systemd", ...args]);
function show(unit: string): Record<string, string> {
  const r = stagehand("show", unit);
  assert.is(r.status, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

test("the container booted from generation A", () => {
  assert.is(c.must(["readlink", "/run/current-system"]).trim(), genA.toplevel);
  assert.match(c.must(["systemctl", "is-system-running"]), /running|degraded/);
});

test("list-units shows active units with their states, filtered by pattern", () => {
  const r = stagehand("list-units", "sleeper.service", "dbus.*");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^sleeper\.service\s+loaded\s+active\s+running\s+stagehand test sleeper$/m);
  assert.match(r.stdout, /^dbus\.service\s+loaded\s+active\s+running/m);
  assert.match(r.stdout, /^dbus\.socket\s+loaded\s+active/m);
  assert.not.match(r.stdout, /systemd-journald/);
});

test("show reads a unit's state from the generation's unit directory, drop-ins included", () => {
  const p = show("sleeper.service");
  assert.is(p.ActiveState, "active");
  assert.is(p.SubState, "running");
  assert.is(p.LoadState, "loaded");
  assert.is(p.FragmentPath, "/etc/systemd/system/sleeper.service");
  assert.match(p.DropInPaths, /\/sleeper\.service\.d\/env\.conf$/);
  assert.ok(Number(p.MainPID) > 0);
  assert.ok(Number(p.ActiveEnterTimestamp) > 0);
  assert.is(p.NRestarts, "0");
  // systemd's own units are linked from the generation too, as NixOS does.
  assert.is(show("dbus.service").FragmentPath, "/etc/systemd/system/dbus.service");
});

test("stop, start, restart and reload are awaited jobs with results", () => {
  let r = stagehand("stop", "sleeper.service");
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), "stop sleeper.service: done");
  assert.is(show("sleeper.service").ActiveState, "inactive");
  assert.is(c.exec(["systemctl", "is-active", "sleeper.service"]).stdout.trim(), "inactive");

  r = stagehand("start", "sleeper.service", "oneshot-ok.service");
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split("\n").sort(), ["start oneshot-ok.service: done", "start sleeper.service: done"]);
  const before = show("sleeper.service");
  assert.is(before.ActiveState, "active");
  assert.is(show("oneshot-ok.service").SubState, "exited");

  r = stagehand("restart", "sleeper.service");
  assert.is(r.stdout.trim(), "restart sleeper.service: done");
  const after = show("sleeper.service");
  assert.is(after.ActiveState, "active");
  assert.is.not(after.MainPID, before.MainPID);

  r = stagehand("reload", "sleeper.service");
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), "reload sleeper.service: done");
  assert.is(show("sleeper.service").MainPID, after.MainPID);
});

test("a failing unit reports 'failed' and exits non-zero; its dependents report 'dependency'", () => {
  let r = stagehand("start", "broken.service");
  assert.is(r.status, 1);
  assert.match(r.stdout, /^start broken\.service: failed/m);
  const p = show("broken.service");
  assert.is(p.ActiveState, "failed");
  assert.is(p.ExecMainStatus, "3");
  assert.is(p.Result, "exit-code");

  r = stagehand("start", "needs-broken.service");
  assert.is(r.status, 1);
  assert.match(r.stdout, /^start needs-broken\.service: a dependency failed/m);
});

test("errors from systemd are clear: unknown unit, job not applicable", () => {
  let r = stagehand("start", "no-such-unit.service");
  assert.is(r.status, 1);
  assert.match(r.stderr, /no-such-unit\.service/);
  assert.match(r.stderr, /not found/i);
  r = stagehand("reload", "oneshot-ok.service");
  assert.is(r.status, 1);
  assert.match(r.stderr, /org\.freedesktop\.systemd1|not applicable|reload/i);
});

test("daemon-reload is awaited: a unit changed just before is seen changed right after", () => {
  const changed = { ...units, "sleeper.service": units["sleeper.service"].replace("stagehand test sleeper", "sleeper of generation B") };
  const genB = buildGeneration(c.root, { name: "b", units: changed, wantedBy: { "sleeper.service": ["multi-user.target"] } });
  prepareBooted(c.root, genB);
  try {
    assert.is(show("sleeper.service").Description, "stagehand test sleeper");
    const r = stagehand("daemon-reload");
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trim(), "daemon-reload: done");
    assert.is(show("sleeper.service").Description, "sleeper of generation B");
  } finally {
    prepareBooted(c.root, genA);
    c.must(["systemctl", "daemon-reload"]);
  }
});

test("daemon-reexec survives systemd leaving the bus and answers again afterwards", () => {
  const pid1Before = c.must(["cat", "/proc/1/stat"]).split(" ")[21]; // starttime
  const reexecs = () => c.exec(["sh", "-c", "journalctl --no-pager -o cat _PID=1 | grep -c '^Reexecuting'"]).stdout.trim();
  const before = reexecs();
  const r = stagehand("daemon-reexec");
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), "daemon-reexec: done");
  assert.is(c.must(["cat", "/proc/1/stat"]).split(" ")[21], pid1Before); // same PID 1 process, re-executed
  assert.is(Number(reexecs()), Number(before) + 1);
  assert.match(stagehand("list-units", "sleeper.service").stdout, /sleeper\.service\s+loaded\s+active\s+running/);
  assert.is(stagehand("stop", "oneshot-ok.service").stdout.trim(), "stop oneshot-ok.service: done");
});

// The cached rootfs has no libpam-systemd, so user managers (and thus logind users) cannot run in
// it; this checks the login1 round trip itself (ListUsers), which answers with no users.
test("login1: ListUsers answers over the bus", () => {
  const r = stagehand("list-users");
  assert.is(r.status, 0, r.stderr);
  for (const line of r.stdout.split("\n").filter(Boolean)) assert.match(line, /^\d+ \S+ gid=\d+ runtime=\/run\/user\/\d+$/);
});

test("without a bus the command fails with a clear error", () => {
  const r = c.exec(["stagehand", "systemd", "list-units"], { env: { DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/run/nonexistent-bus" } });
  assert.is(r.status, 1);
  assert.match(r.stderr, /cannot reach systemd over D-Bus: cannot connect to D-Bus at unix:path=\/run\/nonexistent-bus/);
});

test("bad usage prints the usage and exits 1", () => {
  const r = stagehand("frobnicate", "x.service");
  assert.is(r.status, 1);
  assert.match(r.stderr, /unknown systemd subcommand 'frobnicate'/);
});

test.run();
