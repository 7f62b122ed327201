import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeMessage, encodeMessage, MessageFlag, MessageFramer, messageLength, MessageType, type Message } from "../../../src/dbus/message.ts";
import { WireError } from "../../../src/dbus/wire.ts";

const call: Message = {
  type: MessageType.METHOD_CALL, serial: 7, flags: MessageFlag.NO_AUTO_START, destination: "org.freedesktop.systemd1",
  path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager", member: "StartUnit", signature: "ss", body: ["a.service", "replace"],
};

test("a method call survives encoding, header fields and body", () => {
  const bytes = encodeMessage(call);
  assert.is(bytes[0], 0x6c);
  assert.is(messageLength(bytes.subarray(0, 16)), bytes.length);
  const m = decodeMessage(bytes);
  assert.equal({ ...m }, { ...call, flags: MessageFlag.NO_AUTO_START });
});

test("the fixed header: type, flags, version, body length, serial", () => {
  const bytes = encodeMessage({ type: MessageType.SIGNAL, serial: 0x01020304, path: "/a", interface: "a.b", member: "C", signature: "u", body: [5] });
  assert.equal([...bytes.subarray(0, 4)], [0x6c, 4, 0, 1]);
  assert.is(bytes.readUInt32LE(4), 4);
  assert.is(bytes.readUInt32LE(8), 0x01020304);
  assert.is(bytes.readUInt32LE(bytes.length - 4), 5);
});

test("a message without a body has no signature field and an empty body", () => {
  const m = decodeMessage(encodeMessage({ type: MessageType.METHOD_RETURN, serial: 3, replySerial: 2 }));
  assert.is(m.replySerial, 2);
  assert.is(m.signature, undefined);
  assert.equal(m.body, []);
});

test("the framer splits a stream however it is chunked", () => {
  const messages = [call, { ...call, serial: 8, body: ["b.service", "replace"] }, { type: MessageType.ERROR, serial: 9, replySerial: 7, errorName: "org.x.Err", signature: "s", body: ["no"] }];
  const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
  for (const size of [1, 3, 16, 17, 100, stream.length]) {
    const framer = new MessageFramer();
    const got: Message[] = [];
    for (let i = 0; i < stream.length; i += size) got.push(...framer.push(stream.subarray(i, i + size)));
    assert.equal(got.map((m) => m.serial), [7, 8, 9], `chunks of ${size}`);
    assert.equal(got[1]!.body, ["b.service", "replace"]);
    assert.is(got[2]!.errorName, "org.x.Err");
  }
});

test("a bad header is refused", () => {
  const bytes = encodeMessage(call);
  bytes[0] = 0x78;
  assert.throws(() => new MessageFramer().push(bytes), (e: Error) => e instanceof WireError);
  const v2 = encodeMessage(call);
  v2[3] = 2;
  assert.throws(() => messageLength(v2), /protocol version/);
});

test.run();
