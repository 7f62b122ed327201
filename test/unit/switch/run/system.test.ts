/**
 * A whole system switch (run/system.ts) against a temporary root and the fake service manager: the
 * contract checks, the plan made from the root's unit directory and the new generation's, and the
 * executor's phases, with no machine.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { memoryLog } from "../../../../src/switch/run/log.ts";
import { emptySummary } from "../../../../src/switch/run/summary.ts";
import { runSystemSwitch, type SystemHost } from "../../../../src/switch/run/system.ts";
import type { Action } from "../../../../src/switch/host/contract.ts";
import { tempDir } from "../../tmp.ts";
import { type FakeOpts, fakeSystemd } from "./fake-systemd.ts";

const OLD_UNIT = "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/a\n";
const NEW_UNIT = "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/a --new\n";

function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/** A NixOS root running a.service, and a new generation that changes it. */
function machine(nixos = true) {
  const root = tempDir("stc-system-root-");
  const toplevel = tempDir("stc-system-top-");
  const systemd = tempDir("stc-system-systemd-");
  write(join(root, "etc/os-release"), nixos ? "ID=nixos\n" : "ID=debian\n");
  if (nixos) write(join(root, "etc/NIXOS"), "");
  write(join(root, "etc/systemd/system/a.service"), OLD_UNIT);
  write(join(root, "run/current-system/init-interface-version"), "systemd 2\n");
  write(join(toplevel, "init-interface-version"), "systemd 2\n");
  write(join(toplevel, "etc/systemd/system/a.service"), NEW_UNIT);
  write(join(toplevel, "activate"), "#!/bin/sh\necho \"activating $1\"\n", 0o755);
  write(join(systemd, "lib/systemd/systemd"), "", 0o755);
  mkdirSync(join(root, "proc/1"), { recursive: true });
  symlinkSync(join(systemd, "lib/systemd/systemd"), join(root, "proc/1/exe"));
  const env = {
    OUT: toplevel, TOPLEVEL: toplevel, DISTRO_ID: "nixos", PRE_SWITCH_CHECK: "/bin/false", INSTALL_BOOTLOADER: "/bin/false",
    SYSTEMD: systemd, NIXOS_NO_CHECK: "1", NIXOS_NO_SYNC: "1", PATH: process.env.PATH,
  };
  return { root, toplevel, env };
}

async function switchTo(m: ReturnType<typeof machine>, action: Action, o: FakeOpts = {}) {
  const events: string[] = [];
  const users: string[] = [];
  let connected = 0;
  let closed = 0;
  const host: SystemHost = {
    root: m.root,
    async connect() {
      connected++;
      return {
        systemd: fakeSystemd(events, { after: { "a.service": { activeState: "active", subState: "running" } }, ...o }),
        switchUsers: async (p) => { users.push(`${p.action} ${p.toplevel}`); return 0; },
        close() { closed++; },
      };
    },
  };
  const log = memoryLog();
  const summary = emptySummary(action, m.toplevel);
  const status = await runSystemSwitch({ action, log, summary, env: m.env }, host);
  return { status, events, users, lines: log.lines, summary, connected, closed };
}

test("a switch under a root: the changed unit is stopped and started around the activation, users switched, exit 0", async () => {
  const m = machine();
  const r = await switchTo(m, "test");
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.equal(r.lines, [
    "stopping the following units: a.service",
    "activating the configuration...",
    `activating ${m.toplevel}`,
    "restarting sysinit-reactivation.target",
    "starting the following units: a.service",
  ]);
  assert.equal(r.events.filter((e) => e.startsWith("submit")), ["submit stop a.service", "submit restart sysinit-reactivation.target", "submit start a.service"]);
  assert.equal(r.users, [`test ${m.toplevel}`]);
  assert.equal([r.connected, r.closed], [1, 1], "one connection, closed at the end");
  assert.equal(r.summary.started, ["a.service"]);
});

test("dry-activate prints the plan and submits no job", async () => {
  const m = machine();
  write(join(m.toplevel, "dry-activate"), "#!/bin/sh\necho dry\n", 0o755);
  const r = await switchTo(m, "dry-activate");
  assert.is(r.status, 0);
  assert.ok(r.lines.includes("would stop the following units: a.service"), r.lines.join("\n"));
  assert.ok(r.lines.includes("would activate the configuration..."));
  assert.equal(r.events.filter((e) => e.startsWith("submit")), []);
});

test("check stops before connecting; a root that is not NixOS is refused with ng's status", async () => {
  const r = await switchTo(machine(), "check");
  assert.equal([r.status, r.connected], [0, 0]);
  try {
    await switchTo(machine(false), "test");
    assert.unreachable("not NixOS");
  } catch (e) {
    assert.instance(e, SwitchExit);
    assert.is((e as SwitchExit).code, 2);
  }
});

test("a job that fails makes the switch exit 4, and the connection is still closed", async () => {
  const m = machine();
  const r = await switchTo(m, "test", { results: { "start a.service": "failed" } });
  assert.is(r.status, 4);
  assert.ok(r.lines.includes("Failed to start a.service"), r.lines.join("\n"));
  assert.is(r.closed, 1);
});

test.run();
