import { test } from "uvu";
import * as assert from "uvu/assert";
import { byteCompare, sortBytewise, sortStringsBytewise } from "../../../src/text/bytewise.ts";
import { Random } from "../../harness/random.ts";

test("names sort bytewise (as UTF-8, like Perl's sort), astral characters and lone surrogates included", () => {
  const chars = ["a", "é", "\u{1F600}", "\uFFFD", "\uD800", "\uDC00", "\uE000", ""];
  const names = chars.flatMap((x) => chars.flatMap((y) => chars.map((z) => x + y + z)));
  const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  for (const a of names) for (const b of names) {
    if (Math.sign(byteCompare(a, b)) !== bytewise(a, b)) assert.unreachable(`${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  const plain = ["b/c", "a", "a-b", "a/b", "A", "a.b", "ab", "é", "\u00ff"];
  for (const list of [names, plain]) {
    // Names that encode alike (a lone surrogate and U+FFFD) may come in either order.
    const sorted = sortBytewise([...list].reverse(), (n) => n);
    assert.equal([...sorted].sort(), [...list].sort());
    sorted.forEach((n, i) => { if (i > 0 && bytewise(sorted[i - 1]!, n) > 0) assert.unreachable(`${JSON.stringify(sorted[i - 1])} before ${JSON.stringify(n)}`); });
  }
});

test("sortStringsBytewise is byteCompare's order: ASCII, and names above U+D800 (fuzzed, fixed seeds)", () => {
  // Characters where UTF-16 and UTF-8 orders disagree (surrogate pairs, U+E000 and above) among plain ones.
  const alphabet = ["a", "b", "z", "_", "-", "0", "9", "é", "\u{ffff}", "\u{e000}", "😀", "\u{10000}", "\ud800"];
  for (let seed = 1; seed <= 200; seed++) {
    const r = new Random(seed);
    const list = Array.from({ length: r.int(30) }, () => Array.from({ length: 1 + r.int(4) }, () => r.pick(alphabet)).join(""));
    if (seed % 2 === 0) for (let i = 0; i < list.length; i++) list[i] = list[i]!.replace(/[^a-z0-9_-]/g, "x");
    const want = [...list].sort(byteCompare);
    assert.equal(sortStringsBytewise(list), want, `seed ${seed}`);
  }
  assert.equal(sortStringsBytewise(["b", "a\u{ffff}", "a😀"]), ["a\u{ffff}", "a😀", "b"]); // UTF-16 would put 😀 first
});

test.run();
