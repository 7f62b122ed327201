/** The adapter against a real, private dbus-daemon (no machine state touched). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connectBus, DBusCallError, DBusDisconnectedError } from "../../../src/dbus/connection.ts";
import type { SignalMessage } from "../../../src/dbus/connection.ts";

const dir = mkdtempSync("/tmp/stagehand-dbus-test-");
const address = `unix:path=${join(dir, "bus")}`;
let daemon: ChildProcess;

test.before(async () => {
  daemon = spawn("dbus-daemon", ["--session", "--nofork", "--nopidfile", `--address=${address}`], { stdio: "ignore" });
  for (let i = 0; i < 200 && !existsSync(join(dir, "bus")); i++) await new Promise((r) => setTimeout(r, 25));
});

test.after(() => {
  if (daemon.exitCode === null) daemon.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const DBUS = ["org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"] as const;

test("calls a method and gets the reply body", async () => {
  const bus = await connectBus(address);
  assert.match(bus.uniqueName, /^:/);
  const [names] = await bus.call(...DBUS, "ListNames");
  assert.ok((names as string[]).includes(bus.uniqueName));
  const [owner] = await bus.call(...DBUS, "GetNameOwner", "s", ["org.freedesktop.DBus"]);
  assert.is(owner, "org.freedesktop.DBus");
  bus.close();
});

test("a NUL in a string or a malformed object path fails that call only: the bus daemon never sees it, the connection and the calls beside it live on", async () => {
  // dbus-daemon drops a connection that sends either, failing every call in flight; a list file
  // line with a NUL (a unit name for StartUnit) made every later switch abort there.
  const bus = await connectBus(address);
  const calls = [
    bus.call(...DBUS, "GetNameOwner", "s", ["org.freedesktop.DBus"]),
    bus.call(...DBUS, "GetNameOwner", "s", ["bad\0.service"]),
    bus.call("org.freedesktop.DBus", "/org//bad", "org.freedesktop.DBus", "ListNames"),
    bus.call(...DBUS, "ListNames"),
  ];
  const r = await Promise.allSettled(calls);
  assert.equal(r.map((x) => x.status), ["fulfilled", "rejected", "rejected", "fulfilled"]);
  assert.match(String((r[1] as PromiseRejectedResult).reason), /cannot hold a NUL byte/);
  assert.match(String((r[2] as PromiseRejectedResult).reason), /not a D-Bus object path/);
  assert.not.ok(bus.closed);
  const [owner] = await bus.call(...DBUS, "GetNameOwner", "s", ["org.freedesktop.DBus"]);
  assert.is(owner, "org.freedesktop.DBus");
  bus.close();
});

test("reads properties, Variants unwrapped", async () => {
  const bus = await connectBus(address);
  const features = await bus.getProperty<string[]>(...DBUS, "Features");
  assert.ok(Array.isArray(features));
  const all = await bus.getAllProperties(...DBUS);
  assert.equal(all.Features, features);
  bus.close();
});

test("an error reply carries its D-Bus error name", async () => {
  const bus = await connectBus(address);
  await bus.call(...DBUS, "GetNameOwner", "s", ["org.example.Nobody"]).then(
    () => assert.unreachable("resolved"),
    (e) => {
      assert.instance(e, DBusCallError);
      assert.is(e.dbusName, "org.freedesktop.DBus.Error.NameHasNoOwner");
    },
  );
  bus.close();
});

test("receives signals it subscribed to, and no more after remove()", async () => {
  const watcher = await connectBus(address);
  const seen: SignalMessage[] = [];
  const sub = await watcher.subscribe({ interface: "org.freedesktop.DBus", member: "NameOwnerChanged", arg0: "org.example.Stagehand" }, (m) => seen.push(m));
  const other = await connectBus(address);
  await other.call(...DBUS, "RequestName", "su", ["org.example.Stagehand", 0]);
  for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(seen.length, 1);
  assert.equal(seen[0]!.body, ["org.example.Stagehand", "", other.uniqueName]);
  await sub.remove();
  await other.call(...DBUS, "ReleaseName", "s", ["org.example.Stagehand"]);
  await watcher.call(...DBUS, "GetId"); // a round trip: the release signal would have arrived by now
  assert.is(seen.length, 1);
  other.close();
  watcher.close();
});

test("a reply that arrived while the process was frozen is taken, not reported as a timeout", async () => {
  // A paused VM or a stopped process: when it runs again, its expired timers run before the input
  // that arrived meanwhile is read. CI once saw a StartUnit "not answered in 25 s" this way.
  const bus = await connectBus(address);
  for (let round = 0; round < 6; round++) {
    const reply = bus.call(...DBUS, "GetId", "", [], { timeoutMs: 100 });
    // Queued behind the microtask that writes the call: the bus answers while we are frozen.
    queueMicrotask(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400));
    const [id] = await reply;
    assert.match(String(id), /^[0-9a-f]{32}$/, `round ${round}`);
  }
  bus.close();
});

test("when the bus goes away, the connection says so and calls fail with DBusDisconnectedError", async () => {
  const bus = await connectBus(address);
  let dropped: Error | undefined;
  bus.onDisconnect((e) => (dropped = e));
  daemon.kill("SIGKILL");
  for (let i = 0; i < 200 && !bus.closed; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(bus.closed);
  assert.instance(dropped, DBusDisconnectedError);
  await bus.call(...DBUS, "GetId").then(() => assert.unreachable("resolved"), (err) => assert.instance(err, DBusDisconnectedError));
});

test.run();
