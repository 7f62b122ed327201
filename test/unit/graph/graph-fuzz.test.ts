/**
 * Seeded fuzzing of the activation graph's readers (`activate --graph`, `plan --graph`): mangled
 * TOML (pieces of TOML syntax inserted and deleted, duplicate keys and tables, keys named as
 * Object.prototype's members, NUL, invalid UTF-8, huge strings and tables, deep nesting, cycles,
 * unknown kinds, builtins and options) ends in a graph in execution order, or a DeclarationError
 * naming the file and a line of it or the field at fault, or a GraphError naming the steps; never
 * another exception, a hang or a polluted Object.prototype.
 * Replay one case: STAGEHAND_FUZZ_SEED=N bun test/unit/graph/graph-fuzz.test.ts
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fuzzSeeds, Random } from "../../harness/random.ts";
import { heartbeat } from "../../harness/watchdog.ts";
import { builtins } from "../../../src/cli/builtins.ts";
import { DeclarationError, loadGraph, parseDeclarations } from "../../../src/graph/declarations.ts";
import { validateGraph } from "../../../src/graph/executor.ts";
import { GraphError } from "../../../src/graph/order.ts";
import { tempDir } from "../tmp.ts";

const REGISTRY = builtins();
const PROTO = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__"];
const NAMES = ["etc", "users", "groups", "specialfs", "binsh", "a", "b", "c", "a.b", "x-1", "_", "é", "a b"];
const STEP_KEYS = ["kind", "after", "before", "supportsDryActivation", "description", "text", "builtin", "options", "afterr"];
const VALUES = ['"shell"', '"builtin"', '"perl"', "true", "false", "1", "-0x1", "1e400", "nan", "inf", "1979-05-27T07:32:00Z", "1979-13-27T07:32:00Z", "07:61:00", "2021-02-30", "[]", "{}", '[""]', "[1, 2]",
  '"etc"', '"users"', '""', "'literal \\ '", '"""multi\nline"""', "'''raw\nraw'''", '"\\u0000"', '"\\uD800"', '"\\U0010FFFF"', '"a\\nb"', '["a", "b", "a"]', "{ etc = \"/x\" }"];
/** Pieces of TOML syntax and junk, inserted at random places. */
const PIECES = ["[", "]", "[[", "]]", "{", "}", "=", ".", ",", '"', "'", '"""', "'''", "#", "\n", "\r\n", "\r", "\0", "\t", " ", "\\", "\\u", "\ufeff", "\ud800", "\u2028",
  "[steps]", "[steps.a]", "[[steps.a]]", "[shell]", "steps.a.text = 1", "a.b.c = 2", "key = ", "= 1", "0x", "+", "-", "_", "1_", "T", "Z", ":", ...PROTO];

/** A key: now and then one of Object.prototype's names. */
function key(r: Random, keys: readonly string[]): string {
  return r.chance(0.03) ? r.pick(PROTO) : r.pick(keys);
}

/** A value for a step's key: mostly of the right type, now and then anything. */
function value(r: Random, k: string, steps: readonly string[]): string {
  if (r.chance(0.15)) return r.pick(VALUES);
  const ref = () => JSON.stringify(r.chance(0.9) && steps.length > 0 ? r.pick(steps) : key(r, NAMES));
  switch (k) {
    case "kind": return r.pick(['"shell"', '"builtin"', '"builtin"', '"perl"']);
    case "after": case "before": return `[${Array.from({ length: r.int(4) }, ref).join(", ")}]`;
    case "supportsDryActivation": return r.pick(["true", "false"]);
    case "builtin": return r.pick(['"etc"', '"users"', '"nope"', '"toString"']);
    case "options": return `{ ${key(r, ["etc", "spec", "mode", "x", "users"])} = ${r.pick(['"/x"', '""', '"${systemConfig}/etc"', "1"])} }`;
    default: return r.pick(['"true"', '"echo hi"', '""', '"set -e\\n"', "'x'"]);
  }
}

/** A plausible graph file: steps with edges among them (cycles, unknown names), options, a shell table. */
function plausibleGraph(r: Random): string {
  const lines: string[] = [];
  if (r.chance(0.3)) lines.push("[shell]", `interpreter = ${r.pick(['"/bin/bash"', "1", '"/bin/sh"'])}`, `path = ${r.pick(['["/nix/store/x"]', '"x"', "[]"])}`, `preamble = ${r.pick(['"set -e"', '""', "[]"])}`);
  const steps = Array.from({ length: r.int(8) }, (_, i) => (r.chance(0.9) ? `${r.pick(NAMES)}${i}` : key(r, NAMES)));
  for (const s of steps) {
    lines.push(`[steps.${/^[A-Za-z0-9_-]+$/.test(s) && r.chance(0.8) ? s : JSON.stringify(s)}]`);
    const keys = new Set<string>();
    for (let j = r.int(5); j > 0; j--) keys.add(r.chance(0.05) ? key(r, STEP_KEYS) : r.pick(["kind", "after", "before", "supportsDryActivation", "text", "builtin", "options", "description"]));
    if (r.chance(0.8)) keys.add(r.chance(0.5) ? "text" : "builtin");
    for (const k of keys) lines.push(`${k} = ${value(r, k, steps)}`);
  }
  return lines.join("\n") + (r.chance(0.8) ? "\n" : "");
}

/** Big or deep shapes: many steps, long chains, deep nesting, huge strings. */
function hugeGraph(r: Random): string {
  switch (r.int(7)) {
    case 0: return Array.from({ length: 2_000 + r.int(9_000) }, (_, i) => `[steps.s${i}]\ntext = ""\nafter = ["s${i + 1}"]\n`).join("") + `[steps.s${11_000}]\ntext = ""\n`;
    case 1: return `[steps.a]\ntext = "${"x".repeat(1_000_000 + r.int(2_000_000))}"\n`;
    case 2: return `[steps.a]\ntext = ""\nafter = ${"[".repeat(1 + r.int(100_000))}`;
    case 3: return `[steps.a]\ntext = ""\noptions = ${"{ a = ".repeat(1 + r.int(50_000))}`;
    case 4: return `[${Array.from({ length: 1 + r.int(100_000) }, () => "a").join(".")}]\n`;
    case 5: return `[steps.a]\ntext = ""\n${"steps.a.text = \"\"\n".repeat(1 + r.int(100_000))}`;
    default: return `[steps.a]\ntext = ""\nafter = [${Array.from({ length: 100_000 }, () => '"a"').join(",")}]\n`;
  }
}

/** Mangles a text: pieces inserted, ranges deleted or duplicated, lines swapped. */
function mangle(r: Random, text: string): string {
  let s = text;
  for (let i = 1 + r.int(4); i > 0; i--) {
    const at = r.int(s.length + 1);
    switch (r.int(4)) {
      case 0: s = s.slice(0, at) + r.pick(PIECES) + s.slice(at); break;
      case 1: s = s.slice(0, at) + s.slice(at + 1 + r.int(10)); break;
      case 2: { const len = r.int(40); s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at); break; }
      default: { const ls = s.split("\n"); const a = r.int(ls.length), b = r.int(ls.length); [ls[a], ls[b]] = [ls[b]!, ls[a]!]; s = ls.join("\n"); }
    }
  }
  return s;
}

/** Random bytes inside a text: what a TOML file holding invalid UTF-8 looks like. */
function junkBytes(r: Random, text: string): Buffer {
  const b = Buffer.from(text, "utf8");
  if (b.length === 0 || r.chance(0.2)) return Buffer.from(r.bytes(r.int(500)));
  for (let i = 1 + r.int(4); i > 0; i--) b[r.int(b.length)] = r.int(256);
  return b;
}

/** The graph's order, or the typed error; anything else, or a slow case, fails the seed. */
function check(label: string, file: string, text: string, load: () => ReturnType<typeof loadGraph>): void {
  heartbeat("graph-fuzz", label);
  const t0 = performance.now();
  try {
    const order = validateGraph(load(), REGISTRY);
    const names = new Set(order.map((s) => s.name));
    assert.is(names.size, order.length, `${label}: each step once`);
    for (const s of order) for (const d of s.after) assert.ok(names.has(d), `${label}: ${s.name} after known ${d}`);
  } catch (e) {
    if (e instanceof DeclarationError) {
      assert.is(e.file, file, `${label}: ${e.message}`);
      assert.ok(e.message.startsWith(`${file}: `), `${label}: ${e.message}`);
      const line = /^line (\d+)$/.exec(e.where);
      if (line) {
        const n = Number(line[1]);
        assert.ok(n >= 1 && n <= text.split(/\r?\n|\r/).length + 1, `${label}: line ${n} inside the file: ${e.message}`);
      } else {
        assert.ok(/^(steps|shell)(\.|$)/.test(e.where) || e.where === "read" || e.message.endsWith("unknown top-level key (expected 'steps' or 'shell')"), `${label}: a field or the read: ${e.message}`);
        assert.not.ok(e.where === "parse", `${label}: a TOML error names its line: ${e.message}`);
      }
    } else if (!(e instanceof GraphError)) {
      throw new Error(`${label}: untyped ${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 300)}`);
    }
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 5_000, `${label}: ${ms.toFixed(0)} ms for ${text.length} characters`);
  assert.is(({} as Record<string, unknown>).text, undefined, `${label}: Object.prototype untouched`);
  assert.is((Object as unknown as Record<string, unknown>).text, undefined, `${label}: Object untouched`);
}

test("mangled graph files: a graph in order, a DeclarationError naming file and line or field, or a GraphError", () => {
  const dir = tempDir("graph-fuzz-");
  for (const seed of fuzzSeeds(2000)) {
    const r = new Random(seed);
    const text = r.chance(0.5) ? mangle(r, plausibleGraph(r)) : plausibleGraph(r);
    const file = join(dir, `${seed}.toml`);
    check(`seed ${seed} text`, file, text, () => ({ ...parseDeclarations(file, text), shell: { interpreter: "/bin/bash", path: [], preamble: "" } }) as ReturnType<typeof loadGraph>);
    const bytes = r.chance(0.3) ? junkBytes(r, text) : Buffer.from(text, "utf8");
    writeFileSync(file, bytes);
    check(`seed ${seed} file`, file, bytes.toString("utf8"), () => loadGraph([file]));
  }
});

test("huge and deep graph files end in bounded time", () => {
  const dir = tempDir("graph-fuzz-");
  for (const seed of fuzzSeeds(14)) {
    const r = new Random(seed);
    const text = hugeGraph(r);
    const file = join(dir, `${seed}.toml`);
    writeFileSync(file, text);
    check(`seed ${seed} huge`, file, text, () => loadGraph([file]));
  }
});

test("a directory of mangled files: steps declared twice name both files", () => {
  for (const seed of fuzzSeeds(60)) {
    const r = new Random(seed);
    const dir = tempDir("graph-fuzz-dir-");
    for (let i = 1 + r.int(4); i > 0; i--) writeFileSync(join(dir, `${i}.toml`), r.chance(0.5) ? plausibleGraph(r) : mangle(r, plausibleGraph(r)));
    heartbeat("graph-fuzz", `seed ${seed} dir`);
    try {
      validateGraph(loadGraph([dir]), REGISTRY);
    } catch (e) {
      if (!(e instanceof DeclarationError || e instanceof GraphError)) throw new Error(`seed ${seed}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
      if (e instanceof DeclarationError) assert.ok(e.file.startsWith(dir + "/"), `seed ${seed}: ${e.message}`);
    }
  }
});

test.run();
