import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { symlinkSync, writeFileSync } from "node:fs";
import { MAX_BYTES } from "../../../src/fs/read.ts";
import { join } from "node:path";
import { DeclarationError, loadGraph, parseDeclarations } from "../../../src/graph/declarations.ts";
import { tempDir } from "../tmp.ts";

const ROOT = join(import.meta.dir, "../../..");

test("the shipped activation-scripts load and declare the etc and users builtins", () => {
  const g = loadGraph([join(ROOT, "activation-scripts")]);
  const byName = new Map(g.steps.map((s) => [s.name, s]));
  assert.is(byName.get("etc")?.kind, "builtin");
  assert.is(byName.get("etc")?.builtin, "etc");
  assert.is(byName.get("users")?.builtin, "users");
  assert.equal(byName.get("etc")?.after, ["users", "groups"]);
  assert.ok([...byName.values()].some((s) => s.kind === "shell" && (s.text ?? "").length > 0), "an example shell step");
});

test("defaults: kind from builtin, empty deps, no dry activation", () => {
  const { steps } = parseDeclarations("x.toml", '[steps.a]\ntext = "true"\n[steps.b]\nbuiltin = "etc"\n');
  assert.is(steps[0]!.kind, "shell");
  assert.equal(steps[0]!.after, []);
  assert.is(steps[0]!.supportsDryActivation, false);
  assert.is(steps[1]!.kind, "builtin");
});

test("a TOML syntax error names the file and line", () => {
  try {
    parseDeclarations("/x/bad.toml", '[steps.a]\ntext = "ok"\nafter = [\n');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, DeclarationError);
    assert.match((e as Error).message, /^\/x\/bad\.toml: line \d+: invalid TOML/);
  }
});

test("a date the calendar has not (month 13, hour 25) is a syntax error at its line, not a TypeError from the library", () => {
  for (const [text, line] of [['[steps.a]\ntext = ""\ndescription = 1979-13-27T07:32:00Z\n', 3], ['[steps.a]\ntext = ""\n\ndescription = 2021-00-10', 4], ['x = 07:99:00\n', 1]] as const) {
    assert.throws(
      () => parseDeclarations("/x/d.toml", text),
      (e: Error) => e instanceof DeclarationError && e.where === `line ${line}` && /^\/x\/d\.toml: line \d+: invalid TOML: Invalid Datetime at row/.test(e.message),
      text,
    );
  }
});

const bad: [string, string, RegExp][] = [
  ["wrong type of after", '[steps.a]\ntext = ""\nafter = "b"', /steps\.a\.after: expected an array of strings/],
  ["unknown key", '[steps.a]\ntext = ""\nafterr = ["b"]', /steps\.a\.afterr: unknown key/],
  ["unknown kind", '[steps.a]\nkind = "perl"', /steps\.a\.kind/],
  ["shell step without text", '[steps.a]\nkind = "shell"', /steps\.a\.text: a shell step needs 'text'/],
  ["non-boolean dry flag", '[steps.a]\ntext = ""\nsupportsDryActivation = "yes"', /supportsDryActivation: expected a boolean/],
  ["non-string option", '[steps.a]\nbuiltin = "etc"\noptions = { etc = 1 }', /steps\.a\.options\.etc: expected a string/],
  ["unknown top-level key", '[step.a]\ntext = ""', /step: unknown top-level key/],
  ["bad step name", '[steps."a b"]\ntext = ""', /invalid step name/],
  ["NUL in a snippet", '[steps.a]\ntext = "echo x\\u0000y"', /steps\.a\.text: contains a NUL character/],
  ["NUL in the preamble", '[shell]\npreamble = "\\u0000"', /shell\.preamble: contains a NUL character/],
  ["NUL in the interpreter", '[shell]\ninterpreter = "/bin/bash\\u0000"', /shell\.interpreter: contains a NUL character/],
  ["NUL in the shell's path", '[shell]\npath = ["/nix/store/x", "/a\\u0000b"]', /shell\.path: contains a NUL character/],
];
for (const [what, text, re] of bad) {
  test(`rejected: ${what}`, () => {
    assert.throws(() => parseDeclarations("f.toml", text), (e: Error) => e instanceof DeclarationError && re.test(e.message) && e.message.startsWith("f.toml: "));
  });
}

test("keys named as Object.prototype's members are refused at their line, and no builtin is written to", () => {
  const cases = [
    '[steps.ok]\ntext = ""\n[steps.hasOwnProperty]\ncall = "x"\n',
    '[steps.ok]\ntext = ""\n[steps.constructor]\ntext = "y"\n',
    '[steps.ok]\ntext = ""\nsteps.toString.text = "z"\n',
    '[steps.ok]\ntext = ""\n[[steps.valueOf]]\ntext = "z"\n',
    '[steps.ok]\ntext = ""\noptions = { constructor.text = "w" }\n',
    '[steps.ok]\ntext = ""\n[steps.__proto__]\ntext = "v"\n',
  ];
  for (const text of cases) {
    assert.throws(
      () => parseDeclarations("/x/g.toml", text),
      (e: Error) => e instanceof DeclarationError && /^\/x\/g\.toml: line 3: invalid TOML: The key '\w+' is not allowed/.test(e.message),
      text,
    );
  }
  assert.ok(Object.prototype.hasOwnProperty.call === Function.prototype.call, "Object.prototype.hasOwnProperty.call untouched");
  assert.is((Object as unknown as { text?: unknown }).text, undefined);
  assert.is((Object.prototype.valueOf as unknown as { text?: unknown }).text, undefined);
});

test("a step declared in two files names both", () => {
  const dir = tempDir("decl-");
  writeFileSync(join(dir, "a.toml"), '[steps.x]\ntext = ""\n');
  writeFileSync(join(dir, "b.toml"), '[steps.x]\ntext = ""\n');
  assert.throws(() => loadGraph([dir]), (e: Error) => e.message.includes("b.toml") && e.message.includes("a.toml"));
});

test("a FIFO, a missing file or an oversized file as a graph file is an error naming it, never a hang", () => {
  const dir = tempDir("decl-");
  const fifo = join(dir, "fifo.toml");
  execFileSync("mkfifo", [fifo]);
  assert.throws(() => loadGraph([fifo]), (e: Error) => e instanceof DeclarationError && e.message === `${fifo}: read: is a FIFO, not a regular file`);
  assert.throws(() => loadGraph([join(dir, "missing.toml")]), (e: Error) => e instanceof DeclarationError && e.message.startsWith(join(dir, "missing.toml")));
  const big = join(dir, "big.toml");
  writeFileSync(big, "#".repeat(MAX_BYTES.graphFile + 1));
  assert.throws(() => loadGraph([big]), (e: Error) => e instanceof DeclarationError && /more than the \d+ accepted/.test(e.message));
});

test("a graph file that is not valid UTF-8 is refused by name, never read with U+FFFD in place of a byte", () => {
  const dir = tempDir("decl-");
  const file = join(dir, "latin1.toml");
  writeFileSync(file, Buffer.concat([Buffer.from('[steps.a]\ntext = "printf %s '), Buffer.from([0xe9]), Buffer.from('"\n')]));
  assert.throws(() => loadGraph([file]), (e: Error) => e instanceof DeclarationError && e.message === `${file}: read: is not valid UTF-8 (TOML requires it)`);
});

test("with a root, a symlink loop at the graph's path is a DeclarationError naming the path", () => {
  const root = tempDir("decl-root-");
  symlinkSync("/system", join(root, "system"));
  assert.throws(() => loadGraph(["/system/activation-graph.toml"], root), (e: Error) => e instanceof DeclarationError && e.message === "/system/activation-graph.toml: read: cannot be read (ELOOP)");
});

test("shell settings are read and merged", () => {
  const dir = tempDir("decl-");
  writeFileSync(join(dir, "a.toml"), '[shell]\npath = ["/nix/store/x-coreutils"]\npreamble = "warn() { :; }"\n');
  const g = loadGraph([dir]);
  assert.equal(g.shell.path, ["/nix/store/x-coreutils"]);
  assert.is(g.shell.interpreter, "/bin/bash");
});

test("a key with a line break or an escape sequence is printed escaped in the error: the file cannot forge a line of output", () => {
  const e = (() => {
    try { parseDeclarations("/g.toml", '[steps."x\\nerror: forged\\u001b[2J"]\nkind = "shell"\ntext = "true"\n'); } catch (err) { return err as Error; }
  })();
  assert.ok(e instanceof DeclarationError, String(e));
  assert.not.match(e!.message, /[\n\u001b]/);
  assert.match(e!.message, /^\/g\.toml: steps\.x\\u000aerror: forged\\u001b\[2J: invalid step name$/);
});

test.run();
