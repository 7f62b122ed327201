/**
 * Seeded fuzzing of the unit file parser (issue 14 §5): random bytes and mangled unit files end in
 * a UnitInfo or a UnitParseError naming the file and a line inside it, never another exception;
 * the result has no prototype to pollute; and the line ends systemd knows (LF, CR, CR LF, LF CR,
 * NUL) read alike. Replay one case: STAGEHAND_FUZZ_SEED=N bun test/unit/units/parse-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { emptyUnitInfo, LONG_LINE_MAX, parseUnitText, UnitParseError, type UnitInfo } from "../../../src/units/parse.ts";

const SECTIONS = ["Unit", "Service", "Install", "X-Test", "__proto__", "constructor", "Socket", ""];
const KEYS = ["Description", "ExecStart", "X-Reload-Triggers", "__proto__", "toString", "hasOwnProperty", "A", "X-StopIfChanged"];
const PIECES = ["\n", "\r", "\r\n", "\n\r", "\0", "\\", "\\\\", "[", "]", "=", "#", ";", " ", "\t", "\ufeff", "é", "\u{1F600}", "\ud800"];

/** A unit file's text: plausible lines with junk mixed in. */
function mangledUnit(r: Random): string {
  let s = "";
  const lines = r.int(30);
  for (let i = 0; i < lines; i++) {
    const k = r.int(10);
    if (k < 2) s += `[${r.pick(SECTIONS)}]`;
    else if (k < 7) s += `${r.pick(KEYS)}${r.chance(0.2) ? " " : ""}=${r.chance(0.3) ? "" : r.pick(KEYS) + r.int(100)}`;
    else if (k < 8) s += r.pick(["# c", "; c", "  # c", "no equals here"]);
    for (let j = r.int(3); j > 0; j--) s += r.pick(PIECES);
    s += r.pick(["\n", "\n", "\n", "\r\n", "\r", "\0", "\\\n"]);
  }
  return s;
}

/** Runs the parser: the UnitInfo, or the UnitParseError; anything else fails the case. */
function run(seed: number | string, content: string | Uint8Array): UnitInfo | UnitParseError {
  const path = `/fuzz/${seed}.service`;
  const info = emptyUnitInfo();
  try {
    parseUnitText(info, content, path);
  } catch (e) {
    if (!(e instanceof UnitParseError)) throw new Error(`seed ${seed}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.ok(e.message.startsWith(`${path}:${e.line}: `), `seed ${seed}: the error names the file and line: ${e.message}`);
    assert.ok(e.line >= 1, `seed ${seed}: line ${e.line}`);
    return e;
  }
  assert.is(Object.getPrototypeOf(info), null, `seed ${seed}`);
  for (const sec of Object.values(info)) {
    assert.is(Object.getPrototypeOf(sec), null, `seed ${seed}: section without prototype`);
    for (const v of Object.values(sec)) assert.ok(Array.isArray(v) && v.every((x) => typeof x === "string" && x !== ""), `seed ${seed}: values are non-empty strings`);
  }
  assert.is(({} as Record<string, unknown>).polluted, undefined, `seed ${seed}: Object.prototype untouched`);
  return info;
}

const json = (x: UnitInfo | UnitParseError) => (x instanceof UnitParseError ? `error at ${x.line}` : JSON.stringify(x));

test("random bytes and mangled unit files: a UnitInfo or a UnitParseError naming the file", () => {
  for (const seed of fuzzSeeds(400)) {
    const r = new Random(seed);
    const text = mangledUnit(r);
    run(seed, text);
    run(seed, Buffer.from(text, "utf8"));
    run(seed, r.bytes(r.int(2000)));
    // Junk bytes inside a unit.
    const bytes = Buffer.from(text, "utf8");
    for (let i = r.int(5); i > 0 && bytes.length > 0; i--) bytes[r.int(bytes.length)] = r.int(256);
    run(seed, bytes);
  }
});

test("bytes and their UTF-8 text read alike", () => {
  for (const seed of fuzzSeeds(300)) {
    const r = new Random(seed);
    const text = mangledUnit(r).replace(/[\ud800-\udfff]/g, "x"); // lone surrogates have no UTF-8 form
    assert.is(json(run(seed, Buffer.from(text, "utf8"))), json(run(seed, text)), `seed ${seed}`);
  }
});

test("every kind of line end systemd knows reads as LF (no continuations)", () => {
  for (const seed of fuzzSeeds(300)) {
    const r = new Random(seed);
    const lines: string[] = [];
    for (let i = r.int(20); i > 0; i--) {
      lines.push(r.chance(0.3) ? `[${r.pick(["Unit", "Service", "X-A"])}]` : `${r.pick(KEYS)}=${r.pick(["a", "b c", "", "[x]", "é"])}`);
    }
    const ends = lines.map(() => r.pick(["\n", "\r", "\r\n", "\n\r", "\0", "\r\0", "\n\r\0"]));
    const mixed = lines.map((l, i) => l + ends[i]).join("");
    const plain = lines.map((l) => `${l}\n`).join("");
    assert.is(json(run(seed, Buffer.from(mixed))), json(run(seed, Buffer.from(plain))), `seed ${seed}: ${JSON.stringify(mixed)}`);
  }
});

test("overlong lines anywhere fail with the line's number, within bounded work", () => {
  for (const seed of fuzzSeeds(20)) {
    const r = new Random(seed);
    const before = r.int(5);
    const head = Array.from({ length: before }, () => "[Unit]\n").join("");
    const long = "q".repeat(LONG_LINE_MAX + r.int(100) - 50);
    const out = run(seed, Buffer.from(`${head}${r.chance(0.5) ? "#" : "A="}${long}\n[Unit]\nB=1\n`));
    if (long.length + 2 >= LONG_LINE_MAX) {
      assert.instance(out, UnitParseError, `seed ${seed}`);
      assert.is((out as UnitParseError).line, before + 1, `seed ${seed}`);
    } else {
      assert.not.instance(out, UnitParseError, `seed ${seed}`);
    }
  }
});

test("pathological files end in a result or an error in linear time (no quadratic joins or counts)", () => {
  const MiB = 1 << 20;
  const cases: [string, string | Uint8Array][] = [
    ["many continued short lines", `[S]\nA=${"a\\\n".repeat(2 * MiB)}`],
    ["many continued 2-byte lines", `[S]\nA=${"\u00e9\\\n".repeat(MiB)}`],
    ["a line of backslashes", `[S]\nA=${"\\".repeat(MiB - 10)}\n`],
    ["only CRs", "\r".repeat(4 * MiB)],
    ["only NULs", Buffer.alloc(4 * MiB)],
    ["only LF CR pairs", "\n\r".repeat(2 * MiB)],
    ["blanks before a comment", `${" ".repeat(MiB - 2)}#\n`.repeat(3)],
    ["many sections", "[S]\n".repeat(MiB)],
    ["many assignments to one key", `[S]\n${"A=1\n".repeat(MiB)}`],
    ["many distinct keys", `[S]\n${Array.from({ length: 200_000 }, (_, i) => `K${i}=v`).join("\n")}`],
    ["invalid UTF-8 everywhere", Buffer.alloc(4 * MiB, 0xff)],
  ];
  for (const [name, content] of cases) run(name, content);
});

test.run();
