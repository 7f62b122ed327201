import { test } from "uvu";
import * as assert from "uvu/assert";
import { alignmentOf, parseSignature, SignatureError, signatureOf } from "../../../src/dbus/signature.ts";

test("parses the signatures a switch uses into complete types", () => {
  assert.equal(parseSignature("").length, 0);
  assert.equal(parseSignature("ss").map(signatureOf), ["s", "s"]);
  assert.equal(parseSignature("a(ssssssouso)").map(signatureOf), ["a(ssssssouso)"]);
  assert.equal(parseSignature("a{sv}as").map(signatureOf), ["a{sv}", "as"]);
  const [dict] = parseSignature("a{sa(sv)}");
  assert.is(dict!.children[0]!.code, "{");
  assert.equal(dict!.children[0]!.children.map(signatureOf), ["s", "a(sv)"]);
});

test("rejects malformed signatures", () => {
  for (const bad of ["a", "(", "(s", "()", "{sv}", "a{vs}", "a{s}", "a{sss}", "z", "s)"]) {
    assert.throws(() => parseSignature(bad), (e: Error) => e instanceof SignatureError, bad);
  }
});

test("alignments follow the spec", () => {
  assert.equal(["y", "n", "u", "s", "a", "t", "(", "{", "v", "g", "d", "b"].map(alignmentOf), [1, 2, 4, 4, 4, 8, 8, 8, 1, 1, 8, 4]);
});

test.run();
