/**
 * Whom a connection believes (issue 14 §1), against a fake bus that stamps any sender it likes —
 * as a real daemon stamps each peer's own unique name: replies count only from the callee,
 * signals on a well-known sender only from its current owner, owner changes only from the driver.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connectBus } from "../../../src/dbus/connection.ts";
import type { BusConnection, SignalMessage } from "../../../src/dbus/connection.ts";
import { encodeMessage, MessageType, type Message } from "../../../src/dbus/message.ts";
import { FakeBus } from "./craft.ts";

const DRIVER = "org.freedesktop.DBus";
const SYSTEMD = "org.freedesktop.systemd1";
const M = { path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager" };
let serial = 100;

const reply = (to: Message, sender: string, signature?: string, body?: unknown[]) =>
  encodeMessage({ type: MessageType.METHOD_RETURN, serial: serial++, replySerial: to.serial, sender, destination: ":1.99", signature, body });
const signal = (sender: string, member: string, signature: string, body: unknown[], extra: Partial<Message> = {}) =>
  encodeMessage({ type: MessageType.SIGNAL, serial: serial++, sender, ...M, member, signature, body, ...extra });
const ownerChanged = (sender: string, name: string, from: string, to: string) =>
  signal(sender, "NameOwnerChanged", "sss", [name, from, to], { path: "/org/freedesktop/DBus", interface: DRIVER });

/** Connects, and answers the driver calls that following `org.freedesktop.systemd1` makes (owner `:1.7`). */
async function setup(): Promise<{ bus: FakeBus; conn: BusConnection; seen: SignalMessage[] }> {
  const bus = new FakeBus();
  const conn = await connectBus(bus.address);
  await bus.connected();
  const seen: SignalMessage[] = [];
  const sub = conn.subscribe({ sender: SYSTEMD, ...M }, (m) => seen.push(m));
  for (const m of [await bus.waitFor((m) => m.member === "AddMatch" && String(m.body?.[0]).includes("NameOwnerChanged")),
    await bus.waitFor((m) => m.member === "AddMatch" && String(m.body?.[0]).includes("Manager"))]) bus.send(reply(m, DRIVER));
  bus.send(reply(await bus.waitFor((m) => m.member === "GetNameOwner"), DRIVER, "s", [":1.7"]));
  await sub;
  return { bus, conn, seen };
}

/** A round trip through the fake bus: everything sent before it has been dispatched. */
async function sync(bus: FakeBus, conn: BusConnection): Promise<void> {
  const before = bus.received.length;
  const p = conn.call(DRIVER, "/org/freedesktop/DBus", DRIVER, "GetId");
  const m = await bus.waitFor((m) => m.member === "GetId" && bus.received.indexOf(m) >= before);
  bus.send(reply(m, DRIVER, "s", ["id"]));
  await p;
}

test("a reply counts only from the peer the call went to", async () => {
  const { bus, conn } = await setup();
  try {
    const call = conn.call(SYSTEMD, M.path, M.interface, "StartUnit", "ss", ["sshd.service", "replace"]);
    const m = await bus.waitFor((m) => m.member === "StartUnit");
    bus.send(reply(m, ":1.66", "o", ["/org/freedesktop/systemd1/job/1"])); // another peer answers first
    bus.send(reply(m, ":1.7", "o", ["/org/freedesktop/systemd1/job/2"]));
    assert.equal(await call, ["/org/freedesktop/systemd1/job/2"]);
  } finally {
    conn.close();
    bus.close();
  }
});

test("signals on a well-known sender count only from its current owner, unicast or not", async () => {
  const { bus, conn, seen } = await setup();
  try {
    bus.send(signal(":1.66", "Reloading", "b", [false], { destination: ":1.99" }));
    bus.send(signal(":1.7", "Reloading", "b", [true]));
    await sync(bus, conn);
    assert.equal(seen.map((s) => [s.sender, s.body[0]]), [[":1.7", true]]);
  } finally {
    conn.close();
    bus.close();
  }
});

test("owner changes are taken only from the bus driver", async () => {
  const { bus, conn, seen } = await setup();
  try {
    bus.send(ownerChanged(":1.66", SYSTEMD, ":1.7", ":1.66")); // a peer claims the name moved to it
    bus.send(signal(":1.66", "Reloading", "b", [false]));
    await sync(bus, conn);
    assert.is(conn.nameOwner(SYSTEMD), ":1.7");
    bus.send(ownerChanged(DRIVER, SYSTEMD, ":1.7", ""));
    bus.send(signal(":1.7", "Reloading", "b", [false])); // a departed owner's leftovers
    bus.send(ownerChanged(DRIVER, SYSTEMD, "", ":1.8"));
    bus.send(signal(":1.8", "Reloading", "b", [true]));
    await sync(bus, conn);
    assert.is(conn.nameOwner(SYSTEMD), ":1.8");
    assert.equal(seen.map((s) => s.sender), [":1.8"]);
  } finally {
    conn.close();
    bus.close();
  }
});

test("an owner change dispatched right behind the GetNameOwner reply wins (stream order)", async () => {
  const bus = new FakeBus();
  const conn = await connectBus(bus.address);
  try {
    await bus.connected();
    const call = conn.call("org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager", "ListUsers");
    bus.send(reply(await bus.waitFor((m) => m.member === "AddMatch"), DRIVER));
    const gno = await bus.waitFor((m) => m.member === "GetNameOwner");
    const lu = await bus.waitFor((m) => m.member === "ListUsers");
    // One chunk: the owner as GetNameOwner saw it, then a change, then the new owner's reply.
    bus.send(Buffer.concat([reply(gno, DRIVER, "s", [":1.20"]), ownerChanged(DRIVER, "org.freedesktop.login1", ":1.20", ":1.21"), reply(lu, ":1.21", "a(uso)", [[]])]));
    assert.equal(await call, [[]]);
    assert.is(conn.nameOwner("org.freedesktop.login1"), ":1.21");
  } finally {
    conn.close();
    bus.close();
  }
});

test.run();
