import { test } from "uvu";
import * as assert from "uvu/assert";
import { sortById, sortByIdComparedForTest } from "../../../src/users/order.ts";
import { byteCompare } from "../../../src/text/bytewise.ts";
import { Random } from "../../harness/random.ts";

/** Names from an alphabet where UTF-16 and UTF-8 orders disagree (surrogate pairs, U+E000+). */
const ALPHABET = ["a", "b", "z", "_", "-", "0", "9", "é", "\u{ffff}", "\u{e000}", "😀", "\u{10000}", "\ud800"];

function names(r: Random, n: number): string[] {
  return Array.from({ length: n }, () => Array.from({ length: 1 + r.int(4) }, () => r.pick(ALPHABET)).join(""));
}

test("sortById: by ID, ties by name bytewise, every entry kept once (fuzzed, fixed seeds)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = new Random(seed);
    const list = names(r, r.int(40)).map((name, i) => ({ name: `${name}${i}`, uid: r.int(8) * (seed % 3 === 0 ? 1 : 536870912) }));
    const want = [...list].sort((a, b) => a.uid - b.uid || byteCompare(a.name, b.name));
    assert.equal(sortByIdComparedForTest([...list], (x) => x.uid), want, `seed ${seed} (compared)`);
    const { sorted, shared } = sortById(list, (x) => x.uid);
    assert.equal(sorted, want, `seed ${seed}`);
    assert.is(shared, new Set(list.map((x) => x.uid)).size < list.length, `seed ${seed}: shared`);
  }
  assert.equal(sortById([{ name: "b", id: 4294967295 }, { name: "a", id: 0 }, { name: "c", id: 10 }], (x) => x.id).sorted.map((x) => x.name), ["a", "c", "b"]);
  assert.equal(sortById([{ name: "b", id: 4294967295 }, { name: "a", id: 4294967295 }, { name: "c", id: 4294967294 }], (x) => x.id).sorted.map((x) => x.name), ["c", "a", "b"]);
});

test.run();
