import { test } from "uvu";
import * as assert from "uvu/assert";
import { byteCompare, sortBytewise } from "../../../src/text/bytewise.ts";

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

test.run();
