import { test } from "uvu";
import * as assert from "uvu/assert";
import { Reader, Variant, WireError, Writer } from "../../../src/dbus/wire.ts";

const bytes = (sig: string, values: unknown[]) => {
  const w = new Writer(4); // small, so growing is exercised
  w.write(sig, values);
  return Buffer.from(w.bytes());
};
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const roundTrip = (sig: string, values: unknown[]) => new Reader(bytes(sig, values), 0, true).read(sig);

test("strings are a length, the bytes and a nul", () => {
  assert.is(hex(bytes("s", ["abc"])), "03000000" + "616263" + "00");
  assert.is(hex(bytes("g", ["as"])), "02" + "6173" + "00");
});

test("values are aligned to their size, counted from the start", () => {
  // y at 0, 7 bytes of padding, t at 8
  assert.is(hex(bytes("yt", [1, 2n])), "01" + "00".repeat(7) + "0200000000000000");
  // an empty array of 8-aligned elements still pads to the first element's boundary
  assert.is(hex(bytes("at", [[]])), "00000000" + "00000000");
  // the array length counts the elements, not the padding before them
  assert.is(hex(bytes("yat", [7, [5n]])), "07000000" + "08000000" + "0500000000000000");
});

test("every type survives a round trip", () => {
  const values = [255, true, -2, 65535, -70000, 4000000000, -(2n ** 40n), 2n ** 63n, 1.5, "unit.service", "/org/freedesktop/systemd1", "a{sv}",
    new Variant("as", ["x", "y"]), ["a", "b"], { A: new Variant("u", 1), B: new Variant("s", "two") }, [["s1", 2]], new Uint8Array([1, 2, 3])];
  const sig = "ybnqiuxtdsogvasa{sv}a(su)ay";
  const got = roundTrip(sig, values);
  assert.equal(got.slice(0, 12), values.slice(0, 12));
  assert.equal(got[12], new Variant("as", ["x", "y"]));
  assert.equal(got[13], ["a", "b"]);
  assert.equal(got[14], new Map<string, Variant>([["A", new Variant("u", 1)], ["B", new Variant("s", "two")]]));
  assert.equal(got[15], [["s1", 2]]);
  assert.equal(Array.from(got[16] as Uint8Array), [1, 2, 3]);
});

test("non-ASCII strings are UTF-8", () => {
  assert.equal(roundTrip("s", ["Grüße ☃"]), ["Grüße ☃"]);
});

test("numbers are accepted for 64-bit integers; bigints come back", () => {
  assert.equal(roundTrip("t", [42]), [42n]);
});

test("big-endian input is read too", () => {
  const be = Buffer.from("00000003616263000000002a", "hex");
  assert.equal(new Reader(be, 0, false).read("su"), ["abc", 42]);
});

test("writing checks values against the signature", () => {
  assert.throws(() => bytes("ss", ["one"]), /takes 2 value/);
  assert.throws(() => bytes("v", ["plain"]), /must be a Variant/);
  assert.throws(() => bytes("(su)", [["x"]]), /struct/);
});

test("truncated or inconsistent input is a WireError, not garbage", () => {
  const full = bytes("as", [["abc", "def"]]);
  assert.throws(() => new Reader(full.subarray(0, full.length - 3), 0, true).read("as"), (e: Error) => e instanceof WireError);
  assert.throws(() => new Reader(Buffer.from("0300000061626378", "hex"), 0, true).read("s"), /nul/);
});

test.run();
