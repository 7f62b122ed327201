import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkInitInterfaceVersion, INCOMPATIBLE_INIT_LINES } from "../../../../src/switch/host/interface-version.ts";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { tempDir } from "../../tmp.ts";

function setup(current: string | Buffer | undefined, next: string | Buffer | undefined) {
  const d = tempDir("stc-iv-");
  if (current !== undefined) writeFileSync(join(d, "current"), current);
  if (next !== undefined) writeFileSync(join(d, "init-interface-version"), next);
  return { toplevel: d, current: join(d, "current") };
}

function run(current: string | Buffer | undefined, next: string | Buffer | undefined): SwitchExit | undefined {
  const s = setup(current, next);
  try { checkInitInterfaceVersion(s.toplevel, s.current); } catch (e) { if (e instanceof SwitchExit) return e; throw e; }
  return undefined;
}

test("equal versions pass", () => {
  assert.is(run("systemd 2\n", "systemd 2\n"), undefined);
});

test("a mismatch exits 100 with ng's warning", () => {
  const e = run("systemd 2\n", "systemd 3\n")!;
  assert.is(e.code, 100);
  assert.equal(e.lines, INCOMPATIBLE_INIT_LINES);
  assert.match(e.lines.join("\n"), "incompatible");
  assert.is(e.lines[0], "Warning: the new NixOS configuration has an ‘init’ that is");
});

test("compared byte for byte (a trailing newline matters), a missing current file reads as empty", () => {
  assert.is(run("systemd 2", "systemd 2\n")!.code, 100);
  assert.is(run(undefined, "systemd 2\n")!.code, 100);
  assert.is(run(undefined, "")!, undefined);
});

test("the new generation must have the file", () => {
  const e = run("x", undefined)!;
  assert.is(e.code, 1);
  assert.match(e.lines[0]!, "init-interface-version should exist");
});

test("bytes that are no UTF-8 are never U+FFFD (two different files equal): a new one fails as ng's read_to_string, a current one reads as empty", () => {
  const e = run(Buffer.from([0xff, 0x41]), Buffer.from([0xfe, 0x41]))!;
  assert.is(e.code, 1);
  assert.equal(e.lines, ["Error: File init-interface-version should exist", "", "Caused by:", "    stream did not contain valid UTF-8"]);
  assert.is(run(Buffer.from([0xff]), "")!, undefined, "the current one as empty");
  assert.is(run(Buffer.from("\ufeffsystemd 2\n"), "systemd 2\n")!.code, 100, "a BOM is a byte like any other");
});

test.run();
