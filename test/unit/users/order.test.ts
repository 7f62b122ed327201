import { test } from "uvu";
import * as assert from "uvu/assert";
import { sortById, sortNames } from "../../../src/users/order.ts";
import { byteCompare } from "../../../src/text/bytewise.ts";

/** A small deterministic generator (mulberry32), so a failure replays from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Names from an alphabet where UTF-16 and UTF-8 orders disagree (surrogate pairs, U+E000+). */
const ALPHABET = ["a", "b", "z", "_", "-", "0", "9", "é", "\u{ffff}", "\u{e000}", "😀", "\u{10000}", "\ud800"];

function names(r: () => number, n: number): string[] {
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join(""));
}

test("sortNames is byteCompare's order: ASCII, and names above U+D800 (fuzzed, fixed seeds)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const list = names(r, Math.floor(r() * 30));
    if (seed % 2 === 0) for (let i = 0; i < list.length; i++) list[i] = list[i]!.replace(/[^a-z0-9_-]/g, "x");
    const want = [...list].sort(byteCompare);
    assert.equal(sortNames(list), want, `seed ${seed}`);
  }
  assert.equal(sortNames(["b", "a\u{ffff}", "a😀"]), ["a\u{ffff}", "a😀", "b"]); // UTF-16 would put 😀 first
});

test("sortById: by ID, ties by name bytewise, every entry kept once (fuzzed, fixed seeds)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const list = names(r, Math.floor(r() * 40)).map((name, i) => ({ name: `${name}${i}`, uid: Math.floor(r() * 8) * (seed % 3 === 0 ? 1 : 536870912) }));
    const want = [...list].sort((a, b) => a.uid - b.uid || byteCompare(a.name, b.name));
    assert.equal(sortById(list, (x) => x.uid), want, `seed ${seed}`);
  }
  assert.equal(sortById([{ name: "b", id: 4294967295 }, { name: "a", id: 0 }, { name: "c", id: 10 }], (x) => x.id).map((x) => x.name), ["a", "c", "b"]);
});

test.run();
