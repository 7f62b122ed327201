import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeKeepingBytes, encodeKeepingBytes } from "../../../src/text/keep-bytes.ts";
import { Random } from "../../harness/random.ts";

test("valid UTF-8 decodes as usual; every byte of an invalid sequence round-trips as itself", () => {
  assert.is(decodeKeepingBytes(Buffer.from("héllo 😀\n")), "héllo 😀\n");
  const odd = [[0xff], [0xc3], [0xc3, 0x28], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98], [0x80]];
  for (const bytes of odd) {
    const buf = Buffer.from([0x61, ...bytes, 0x3a, 0x0a]);
    const text = decodeKeepingBytes(buf);
    assert.ok(!text.includes("\ufffd"), JSON.stringify(bytes));
    assert.ok(text.startsWith("a") && text.endsWith(":\n"), JSON.stringify(bytes));
    assert.equal(encodeKeepingBytes(text), buf, JSON.stringify(bytes));
  }
  // A valid pair whose low half lies in the escape range stays one code point.
  assert.equal(encodeKeepingBytes("\ud800\udc80"), Buffer.from("\ud800\udc80", "utf8"));
});

test("random bytes round-trip exactly (seeded)", () => {
  const r = new Random(7);
  for (let i = 0; i < 2000; i++) {
    const buf = Buffer.from(r.bytes(r.int(40)));
    assert.equal(encodeKeepingBytes(decodeKeepingBytes(buf)), buf, buf.toString("hex"));
  }
});

test.run();
