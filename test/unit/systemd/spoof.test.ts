/**
 * Issue 14 §1 against a real dbus-daemon with the system bus's policy: a fake systemd (root) owns
 * org.freedesktop.systemd1, and a process running as uid 65534 sends unicast JobRemoved and
 * Reloading signals to stagehand's unique name — which the bus lets through (unicast signals
 * bypass match rules) and stagehand must ignore.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JobWaiter } from "../../../src/systemd/jobs.ts";
import { SystemdManager } from "../../../src/systemd/manager.ts";
import { RawPeer } from "../dbus/raw-peer.ts";
import type { Message } from "../../../src/dbus/message.ts";

const NOBODY = 65534;
const dir = mkdtempSync("/tmp/stagehand-spoof-");
chmodSync(dir, 0o755);
const address = `unix:path=${join(dir, "bus")}`;
const attackerScript = join(import.meta.dir, "..", "dbus", "raw-peer.ts");

// The default policy of Debian's /usr/share/dbus-1/system.conf, and systemd's own grant for its
// name (org.freedesktop.systemd1.conf): only root owns it.
const config = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.systemd1"/>
    <allow send_destination="org.freedesktop.systemd1"/>
  </policy>
</busconfig>
`;

let daemon: ChildProcess;
let systemd: RawPeer;
const calls: Message[] = [];
let nextJob = 42;

test.before(async () => {
  assert.is(process.getuid?.(), 0, "this test runs as root (it starts a process as uid 65534)");
  writeFileSync(join(dir, "system.conf"), config);
  daemon = spawn("dbus-daemon", [`--config-file=${join(dir, "system.conf")}`, "--nofork", "--nopidfile"], { stdio: "ignore" });
  for (let i = 0; i < 400 && !existsSync(join(dir, "bus")); i++) await new Promise((r) => setTimeout(r, 25));
  systemd = await RawPeer.connect(address);
  await systemd.requestName("org.freedesktop.systemd1");
  systemd.serve((m) => {
    calls.push(m);
    switch (m.member) {
      case "Subscribe": return {};
      case "StartUnit": return { signature: "o", body: [`/org/freedesktop/systemd1/job/${nextJob++}`] };
      case "Reload":
        systemd.emit(undefined, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Reloading", "b", [true]);
        return {};
    }
    return undefined;
  });
});

test.after(() => {
  systemd?.close();
  if (daemon && daemon.exitCode === null) daemon.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Sends a spoofed systemd signal as uid 65534; returns once the bus has routed it. */
function attack(target: string, ...args: string[]): void {
  const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, attackerScript, address, target, ...args], {
    encoding: "utf8", env: { PATH: process.env.PATH, HOME: "/tmp", BUN_INSTALL_CACHE_DIR: "/tmp" }, timeout: 60_000,
  });
  assert.is(r.status, 0, `attacker failed: ${r.stderr}`);
  assert.match(r.stdout.trim(), /^:\d+\.\d+$/, "the attacker got onto the bus");
}

const emitReal = (member: string, signature: string, body: unknown[]) =>
  systemd.emit(undefined, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", member, signature, body);

test("the attacker runs as uid 65534", () => {
  const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "id", "-u"], { encoding: "utf8" });
  assert.is(r.stdout.trim(), String(NOBODY));
});

test("JobRemoved from uid 65534, planted before the job exists or sent while it runs, is ignored", async () => {
  const m = await SystemdManager.connect({ address });
  try {
    const waiter = JobWaiter.create(m);
    // Planted: job ids are predictable, the next one is 42.
    attack(m.bus.uniqueName, "jobremoved", "42", "sshd.service", "done");
    await m.bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId"); // stagehand has read it
    const job42 = await m.enqueue("start", "sshd.service");
    assert.is(job42, "/org/freedesktop/systemd1/job/42");
    const first = waiter.wait(job42);
    // Sent while the job runs.
    const job43 = await m.enqueue("start", "other.service");
    const second = waiter.wait(job43);
    second.catch(() => {}); // awaited below; not unhandled if the first assertion fails
    attack(m.bus.uniqueName, "jobremoved", "43", "other.service", "done");
    // Now systemd reports the real results; the spoofed ones went through the bus first.
    emitReal("JobRemoved", "uoss", [42, job42, "sshd.service", "failed"]);
    emitReal("JobRemoved", "uoss", [43, job43, "other.service", "dependency"]);
    assert.is((await first).result, "failed");
    assert.is((await second).result, "dependency");
    waiter.close();
  } finally {
    m.close();
  }
});

test("Reloading(false) from uid 65534 does not end a daemon-reload wait", async () => {
  const m = await SystemdManager.connect({ address });
  try {
    let settled = false;
    const reload = m.reload().finally(() => (settled = true));
    for (let i = 0; i < 2000 && !calls.some((c) => c.member === "Reload"); i++) await new Promise((r) => setTimeout(r, 5));
    await systemd.sync(); // Reloading(true) and the reply are routed
    attack(m.bus.uniqueName, "reloading", "false");
    await m.bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId"); // stagehand has read all of it
    await new Promise((r) => setImmediate(r));
    assert.not.ok(settled, "a spoofed Reloading(false) ended the daemon-reload wait");
    emitReal("Reloading", "b", [false]);
    await reload;
  } finally {
    m.close();
  }
});

test("signals from systemd's owner are still taken, also after the name changes hands", async () => {
  const m = await SystemdManager.connect({ address });
  try {
    const seen: unknown[][] = [];
    m.onSignal("Reloading", (b) => seen.push(b));
    emitReal("Reloading", "b", [true]);
    await systemd.sync();
    await m.bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId");
    assert.is(seen.length, 1);
    // A new instance takes the name (as after a re-exec); the old one's signals no longer count.
    const successor = await RawPeer.connect(address);
    const old = systemd;
    old.emit(undefined, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Reloading", "b", [false]);
    await old.sync();
    old.close();
    await successor.requestName("org.freedesktop.systemd1");
    successor.emit(undefined, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Reloading", "b", [true]);
    await successor.sync();
    await m.bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId");
    assert.equal(seen.map((b) => b[0]), [true, false, true]);
    assert.is(m.bus.nameOwner("org.freedesktop.systemd1"), successor.uniqueName);
    successor.close();
  } finally {
    m.close();
  }
});

test.run();
