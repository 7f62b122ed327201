/**
 * Hostile messages (issue 14 §2): each is refused with a typed error before it can crash the
 * process, balloon its memory or reach a prototype — and only that message is lost.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connectBus, DBusDisconnectedError, DBusProtocolError } from "../../../src/dbus/connection.ts";
import type { SignalMessage } from "../../../src/dbus/connection.ts";
import { decodeMessage, encodeMessage, MalformedMessageError, MessageFramer, messageLength, MessageType } from "../../../src/dbus/message.ts";
import { parseSignature, SignatureError } from "../../../src/dbus/signature.ts";
import { MAX_VALUES_PER_MESSAGE, Reader, Variant, WireError, Writer } from "../../../src/dbus/wire.ts";
import { craft, FakeBus, nestedVariants, signalFields, type Field } from "./craft.ts";

const SIGNAL = MessageType.SIGNAL;

/** Decoding must throw a typed WireError whose text matches `re`. */
function refused(bytes: Buffer, re: RegExp): void {
  let error: unknown;
  try {
    decodeMessage(bytes);
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, "decoded without an error");
  assert.instance(error, WireError, `not a WireError: ${error}`);
  assert.match((error as Error).message, re);
}

test("a valid crafted message decodes (the helper is sound)", () => {
  const m = decodeMessage(craft(SIGNAL, signalFields("uoss"), [42, "/org/freedesktop/systemd1/job/42", "sshd.service", "done"]));
  assert.equal(m.body, [42, "/org/freedesktop/systemd1/job/42", "sshd.service", "done"]);
});

test("200,000 nested variants: a typed error, not a stack overflow", () => {
  refused(craft(SIGNAL, signalFields("v"), nestedVariants(200_000)), /nested more than 64/);
});

test("variants count toward the 64-deep nesting, as in sd-bus", () => {
  // nestedVariants(n) is n variants of signature "v" around one of signature "y": n + 1 deep.
  const ok = decodeMessage(craft(SIGNAL, signalFields("v"), nestedVariants(63)));
  assert.instance(ok.body![0], Variant);
  refused(craft(SIGNAL, signalFields("v"), nestedVariants(64)), /nested more than 64/);
  // 32 structs, a variant, 32 more structs: each signature is valid alone, the value too deep.
  const structs = (n: number, inner: unknown): unknown => (n === 0 ? inner : [structs(n - 1, inner)]);
  const deep = (inner: string) => "(".repeat(32) + inner + ")".repeat(32);
  const w = new Writer(64);
  w.write("v", [new Variant(deep("v"), structs(32, new Variant(deep("y"), structs(32, 1))))]);
  assert.throws(() => new Reader(Buffer.from(w.bytes()), 0, true).read("v"), (e: Error) => e instanceof WireError && /32 nested structs/.test(e.message));
  const inner = "a".repeat(32) + "y";
  assert.throws(() => parseSignature("a".repeat(33) + "y"), (e: Error) => e instanceof SignatureError && /32 arrays/.test(e.message));
  assert.throws(() => parseSignature("(".repeat(33) + "y" + ")".repeat(33)), (e: Error) => e instanceof SignatureError && /32 structs/.test(e.message));
  assert.is(parseSignature(inner).length, 1);
  assert.is(parseSignature("(".repeat(32) + "y" + ")".repeat(32)).length, 1);
});

test("a 64 MiB av is refused at the value cap, not parsed into millions of objects", () => {
  const n = (64 * 1024 * 1024 - 8) / 4;
  const body = Buffer.alloc(4 + n * 4);
  body.writeUInt32LE(n * 4, 0);
  for (let i = 0; i < n; i++) body.set([1, 0x79, 0, 7], 4 + i * 4);
  const before = process.memoryUsage().rss;
  refused(craft(SIGNAL, signalFields("av"), body), new RegExp(`more than ${MAX_VALUES_PER_MESSAGE} values`));
  // The refusal cost at most a bounded heap (a full parse costs well over a GB).
  assert.ok(process.memoryUsage().rss - before < 600 * 1024 * 1024, "memory grew by more than 600 MiB");
});

test("a 64 MiB a(y) is refused at the value cap too", () => {
  const n = (64 * 1024 * 1024 - 8) / 8;
  const body = Buffer.alloc(8 + n * 8);
  body.writeUInt32LE(n * 8, 0);
  refused(craft(SIGNAL, signalFields("a(y)"), body), /values/);
});

test("an array longer than 64 MiB is refused before anything is read", () => {
  const body = Buffer.alloc(8);
  body.writeUInt32LE(64 * 1024 * 1024 + 1, 0);
  refused(craft(SIGNAL, signalFields("ay"), body), /over the D-Bus maximum/);
});

test("a message over 128 MiB is refused from its header", () => {
  const head = craft(SIGNAL, signalFields("ay"), Buffer.alloc(8)).subarray(0, 16);
  head.writeUInt32LE(128 * 1024 * 1024, 4);
  assert.throws(() => messageLength(head), /over the D-Bus maximum/);
  head.writeUInt32LE(0, 4);
  head.writeUInt32LE(64 * 1024 * 1024 + 8, 12);
  assert.throws(() => messageLength(head), /header fields .* over the D-Bus maximum/);
});

test("a dict key __proto__ is an ordinary key, never a prototype", () => {
  const entries = new Map<string, Variant>([["__proto__", new Variant("s", "evil")], ["Id", new Variant("s", "x")]]);
  const dict = decodeMessage(craft(SIGNAL, signalFields("a{sv}"), [entries])).body![0] as Map<string, unknown>;
  assert.instance(dict, Map);
  assert.equal([...dict.keys()], ["__proto__", "Id"]);
  assert.equal(dict.get("__proto__"), new Variant("s", "evil"));
  assert.is(Object.getPrototypeOf(dict), Map.prototype);
});

test("getAllProperties keeps a __proto__ property as data", async () => {
  const bus = new FakeBus();
  try {
    const conn = await connectBus(bus.address);
    await bus.connected();
    const all = conn.getAllProperties("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus");
    const m = await bus.waitFor((m) => m.member === "GetAll");
    const props = new Map<string, Variant>([["__proto__", new Variant("s", "evil")], ["Id", new Variant("s", "x")]]);
    bus.send(craft(MessageType.METHOD_RETURN, [[5, "u", m.serial], [7, "s", "org.freedesktop.DBus"], [8, "g", "a{sv}"]], [props], 3));
    const got = await all;
    assert.is(Object.getPrototypeOf(got), null);
    assert.is(got["__proto__"], "evil");
    assert.is(got.Id, "x");
    conn.close();
  } finally {
    bus.close();
  }
});

test("header fields of the wrong type are refused", () => {
  const f = (extra: Field): Field[] => [...signalFields().filter(([c]) => c !== extra[0]), extra];
  refused(craft(SIGNAL, f([8, "as", ["u"]]), Buffer.alloc(4)), /signature has type "as"/);
  refused(craft(MessageType.METHOD_RETURN, [[5, "s", "7"], [7, "s", ":1.1"]]), /replySerial has type "s"/);
  refused(craft(SIGNAL, f([1, "s", "/org/freedesktop/systemd1"])), /path has type "s"/);
  refused(craft(SIGNAL, f([7, "u", 5])), /sender has type "u"/);
  refused(craft(SIGNAL, [...signalFields(), [9, "s", "x"]]), /UNIX_FDS/);
});

test("header fields must be valid names, present as the type requires, and not repeated", () => {
  refused(craft(SIGNAL, signalFields().map(([c, s, v]) => (c === 2 ? [c, s, "no-dots"] : [c, s, v]) as Field)), /interface name/);
  refused(craft(SIGNAL, signalFields().map(([c, s, v]) => (c === 3 ? [c, s, "Job.Removed"] : [c, s, v]) as Field)), /member name/);
  refused(craft(SIGNAL, signalFields().map(([c, s, v]) => (c === 7 ? [c, s, "not a name"] : [c, s, v]) as Field)), /sender/);
  refused(craft(SIGNAL, signalFields().filter(([c]) => c !== 3)), /without the member/);
  refused(craft(MessageType.ERROR, [[5, "u", 3], [7, "s", ":1.1"]]), /without the errorName/);
  refused(craft(SIGNAL, [...signalFields(), [3, "s", "Again"]]), /appears twice/);
  refused(craft(MessageType.METHOD_RETURN, [[5, "u", 0], [7, "s", ":1.1"]]), /reply serial 0/);
  refused(craft(SIGNAL, signalFields(), Buffer.alloc(0), 0), /serial 0/);
});

test("invalid UTF-8 and nul bytes in strings are refused, not replaced", () => {
  const s = (bytes: number[]) => { const b = Buffer.alloc(4 + bytes.length + 1); b.writeUInt32LE(bytes.length, 0); b.set(bytes, 4); return b; };
  refused(craft(SIGNAL, signalFields("s"), s([0x61, 0xff, 0xfe])), /not valid UTF-8/);
  refused(craft(SIGNAL, signalFields("s"), s([0xed, 0xa0, 0x80])), /not valid UTF-8/); // a UTF-16 surrogate
  refused(craft(SIGNAL, signalFields("s"), s([0xc0, 0xaf])), /not valid UTF-8/); // overlong '/'
  refused(craft(SIGNAL, signalFields("s"), s([0x61, 0x00, 0x62])), /nul byte/);
  assert.equal(decodeMessage(craft(SIGNAL, signalFields("s"), s([...Buffer.from("Grüße ☃")]))).body, ["Grüße ☃"]);
});

test("object paths and signatures on the wire must be valid", () => {
  for (const bad of ["", "x", "//", "/a/", "/a//b", "/a-b", "/ä"]) {
    const b = Buffer.from(bad);
    const body = Buffer.alloc(4 + b.length + 1);
    body.writeUInt32LE(b.length, 0);
    b.copy(body, 4);
    refused(craft(SIGNAL, signalFields("o"), body), /object path|UTF-8/);
  }
  refused(craft(SIGNAL, signalFields("g"), Buffer.from([2, 0x61, 0x7a, 0])), /unknown type code|ends inside/);
  refused(craft(SIGNAL, signalFields("v"), Buffer.from([2, 0x73, 0x73, 0, 0, 0, 0, 0])), /not one complete type/);
  refused(craft(SIGNAL, signalFields("v"), Buffer.from([0, 0])), /not one complete type/);
});

test("booleans other than 0 and 1 are refused", () => {
  refused(craft(SIGNAL, signalFields("b"), Buffer.from([7, 0, 0, 0])), /boolean 7/);
  assert.equal(decodeMessage(craft(SIGNAL, signalFields("bb"), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]))).body, [true, false]);
});

test("non-zero padding is refused, in the body and after the header fields", () => {
  refused(craft(SIGNAL, signalFields("yu"), Buffer.from([1, 9, 0, 0, 5, 0, 0, 0])), /non-zero padding/);
  const m = craft(SIGNAL, signalFields("y"), Buffer.from([1]));
  const fieldsEnd = 16 + m.readUInt32LE(12);
  assert.ok(fieldsEnd % 8 !== 0, "the crafted header needs padding for this test");
  m[fieldsEnd] = 1;
  refused(m, /non-zero padding/);
});

test("a body with bytes beyond its values, or without a signature, is refused", () => {
  refused(craft(SIGNAL, signalFields("y"), Buffer.from([1, 2])), /holds 1 bytes of values/);
  refused(craft(SIGNAL, signalFields(), Buffer.from([1])), /without a signature/);
});

test("a malformed body keeps its header, so the awaited call can be told", () => {
  let error: unknown;
  try {
    decodeMessage(craft(MessageType.METHOD_RETURN, [[5, "u", 9], [7, "s", ":1.1"], [8, "g", "b"]], Buffer.from([3, 0, 0, 0])));
  } catch (e) {
    error = e;
  }
  assert.instance(error, MalformedMessageError);
  assert.is((error as MalformedMessageError).header?.replySerial, 9);
});

test("the framer drops a malformed message and goes on with the next", () => {
  const good = encodeMessage({ type: SIGNAL, serial: 8, path: "/a", interface: "a.b", member: "C", signature: "u", body: [1] });
  const bad = craft(SIGNAL, signalFields("b"), Buffer.from([7, 0, 0, 0]));
  const dropped: WireError[] = [];
  const got = new MessageFramer().push(Buffer.concat([bad, good, bad, good]), (e) => dropped.push(e));
  assert.equal(got.map((m) => m.serial), [8, 8]);
  assert.is(dropped.length, 2);
});

test("over a connection: a malformed signal is dropped, a malformed reply fails its call, broken framing closes cleanly", async () => {
  const bus = new FakeBus();
  try {
    const conn = await connectBus(bus.address);
    await bus.connected();
    const seen: SignalMessage[] = [];
    // Subscribing calls AddMatch on the bus driver: answer it.
    const sub = conn.subscribe({ interface: "a.b" }, (m) => seen.push(m));
    const add = await bus.waitFor((m) => m.member === "AddMatch");
    bus.send(encodeMessage({ type: MessageType.METHOD_RETURN, serial: 2, replySerial: add.serial, sender: "org.freedesktop.DBus" }));
    await sub;

    // A variant bomb, then a good signal: only the good one arrives, the connection stays.
    bus.send(Buffer.concat([
      craft(SIGNAL, [[1, "o", "/a"], [2, "s", "a.b"], [3, "s", "C"], [7, "s", ":1.5"], [8, "g", "v"]], nestedVariants(200_000), 3),
      encodeMessage({ type: SIGNAL, serial: 4, path: "/a", interface: "a.b", member: "C", sender: ":1.5", signature: "u", body: [1] }),
    ]));
    // A call whose reply is malformed fails with DBusProtocolError.
    const call = conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId");
    const c = await bus.waitFor((m) => m.member === "GetId");
    bus.send(craft(MessageType.METHOD_RETURN, [[5, "u", c.serial], [7, "s", "org.freedesktop.DBus"], [8, "g", "b"]], Buffer.from([7, 0, 0, 0]), 6));
    await call.then(() => assert.unreachable("resolved"), (e) => {
      assert.instance(e, DBusProtocolError);
      assert.match(e.message, /malformed reply: boolean 7/);
    });
    assert.is(seen.length, 1);
    assert.is(seen[0]!.body[0], 1);
    assert.not.ok(conn.closed);

    // Bytes that cannot be framed end the connection, with an error its users see.
    let dropped: Error | undefined;
    conn.onDisconnect((e) => (dropped = e));
    const pending = conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId");
    await bus.waitFor((m) => m.member === "GetId" && m.serial !== c.serial);
    bus.send(Buffer.from("x".repeat(16)));
    await pending.then(() => assert.unreachable("resolved"), (e) => {
      assert.instance(e, DBusDisconnectedError);
      assert.match(e.message, /malformed message: bad endianness/);
    });
    assert.ok(conn.closed);
    assert.instance(dropped, DBusDisconnectedError);
  } finally {
    bus.close();
  }
});

test.run();
