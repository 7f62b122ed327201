import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { emptyUnitInfo, LONG_LINE_MAX, MAX_UNIT_ENTRIES, parseSystemdBool, parseUnitText, UnitParseError } from "../../../src/units/parse.ts";
import { diskUnitDirectory, isUnitInputError, loadUnit, memoryUnitDirectory, templateOf, baseNameOf, UnitDirectoryError } from "../../../src/units/dir.ts";
import { generation } from "../switch/helpers.ts";

const parse = (text: string | Uint8Array) => { const i = emptyUnitInfo(); parseUnitText(i, text, "/x.service"); return i; };

test("sections, repeated keys, comments and [Install] dropped", () => {
  const i = parse("# head\n[Unit]\nDescription=a\n; c\n[Service]\nExecStart=/a\nExecStart=/b\n[Install]\nWantedBy=multi-user.target\n");
  assert.equal(JSON.parse(JSON.stringify(i)), { Unit: { Description: ["a"] }, Service: { ExecStart: ["/a", "/b"] } });
});

test("an empty assignment clears earlier values, also across drop-ins", () => {
  const i = parse("[Service]\nExecStart=/a\nExecStart=\nExecStart=/b\n");
  assert.equal(i.Service!.ExecStart, ["/b"]);
  parseUnitText(i, "[Service]\nExecStart=\n", "/x.service.d/o.conf");
  assert.equal(i.Service!.ExecStart, []);
  assert.ok(Object.hasOwn(i.Service!, "ExecStart"));
});

test("trailing backslash continues; comment lines inside are skipped (unitWithMultilineValue)", () => {
  const i = parse("[Service]\nExecStart=/bin/true \\\n# ignored\n; ignored\n  blah blah\nType=oneshot\n");
  assert.equal(i.Service!.ExecStart, ["/bin/true    blah blah"]);
  assert.equal(i.Service!.Type, ["oneshot"]);
});

test("an even number of trailing backslashes does not continue", () => {
  const i = parse("[Service]\nA=x\\\\\nB=y\n");
  assert.equal(i.Service!.A, ["x\\\\"]);
  assert.equal(i.Service!.B, ["y"]);
});

test("backslashes stay literal (escaped\\x2ddash)", () => {
  const i = parse("[Unit]\nRequires=escaped\\x2ddash.service mnt-my\\x2ddata.mount\n");
  assert.equal(i.Unit!.Requires, ["escaped\\x2ddash.service mnt-my\\x2ddata.mount"]);
});

test("lines systemd refuses fail the file, naming file and line, never quoting it", () => {
  const refused = (text: string | Uint8Array, line: number, why: RegExp) => {
    try { parse(text); assert.unreachable(); } catch (e) {
      assert.instance(e, UnitParseError);
      assert.is((e as UnitParseError).line, line);
      assert.match((e as Error).message, new RegExp(`^/x\\.service:${line}: `));
      assert.match((e as Error).message, why);
      assert.not.match((e as Error).message, /SECRET/);
    }
  };
  refused("[Unit]\nDescription=a\n[UnitSECRET\n", 3, /invalid section header/);
  refused("[Unit\nA=b\n", 1, /invalid section header/);
  refused("[\n", 1, /invalid section header/);
  refused("[Un\"it]\nA=SECRET\n", 1, /bad characters in section header/);
  refused("[Un\\it]\n", 1, /bad characters in section header/);
  refused("[Un\tit]\n", 1, /bad characters in section header/);
  refused(Buffer.from("[Unit]\nDescription=SECRET\xff\n", "latin1"), 2, /not valid UTF-8/);
});

test("what systemd only warns about is ignored: no '=', empty key, before any section", () => {
  const i = parse("Early=1\n[Unit]\nDescription=a\nnonsense here\n=value\n  = v2\nAfter=b\n");
  assert.equal(JSON.parse(JSON.stringify(i)), { Unit: { Description: ["a"], After: ["b"] } });
  // an empty section name is a section systemd ignores; kept like any other
  assert.equal(JSON.parse(JSON.stringify(parse("[]\nA=1\n"))), { "": { A: ["1"] } });
});

test("a lone CR, CR LF, LF CR and a NUL end a line (issue 14: a hidden ExecStart)", () => {
  const hidden = parse("[Unit]\nDescription=x\r[Service]\rExecStart=/bin/evil\n");
  assert.equal(JSON.parse(JSON.stringify(hidden)), { Unit: { Description: ["x"] }, Service: { ExecStart: ["/bin/evil"] } });
  const nul = parse("[Unit]\nDescription=x\0[Service]\0ExecStart=/bin/evil\n");
  assert.equal(JSON.parse(JSON.stringify(nul)), { Unit: { Description: ["x"] }, Service: { ExecStart: ["/bin/evil"] } });
  assert.equal(parse("[Unit]\r\nA=1\r\nB=2\n\rC=3").Unit, Object.assign(Object.create(null), { A: ["1"], B: ["2"], C: ["3"] }));
  // LF LF is two line ends (an empty line ends a continuation); LF CR is one (it does not)
  assert.equal(parse("[S]\nA=x\\\n\ny=1\n").S!.A, ["x"]);
  assert.equal(parse("[S]\nA=x\\\n\ry=1\n").S!.A, ["x y=1"]);
  // CR NUL is one line end, NUL CR two: line numbers tell
  try { parse("[S]\r\0[bad\n"); assert.unreachable(); } catch (e) { assert.is((e as UnitParseError).line, 2); }
  try { parse("[S]\0\r[bad\n"); assert.unreachable(); } catch (e) { assert.is((e as UnitParseError).line, 3); }
});

test("only space, tab, CR and LF are stripped; one byte order mark is dropped", () => {
  const i = parse("\ufeff[Unit]\nDescription=\u00a0x\f\n\tAfter= y \t\n");
  assert.equal(i.Unit!.Description, ["\u00a0x\f"]);
  assert.equal(i.Unit!.After, ["y"]);
  const bytes = parse(Buffer.from("\xef\xbb\xbf[Unit]\nA=\xc3\xa9\n", "latin1"));
  assert.equal(bytes.Unit!.A, ["\u00e9"]);
});

test("invalid UTF-8 inside a comment is no error; distinct bytes stay distinct", () => {
  const i = parse(Buffer.from("# \xff\xfe\n[Unit]\nA=1\n", "latin1"));
  assert.equal(i.Unit!.A, ["1"]);
});

test("a line of LONG_LINE_MAX bytes or more fails the file; one byte less is read", () => {
  const ok = "A=" + "x".repeat(LONG_LINE_MAX - 3);
  assert.is(parse(`[S]\n${ok}\n`).S!.A![0]!.length, LONG_LINE_MAX - 3);
  assert.throws(() => parse(`[S]\n${ok}x\n`), (e: Error) => e instanceof UnitParseError && e.line === 2 && /line too long/.test(e.message));
  // counted in bytes: 2-byte characters
  assert.throws(() => parse(`[S]\nA=${"\u00e9".repeat(LONG_LINE_MAX / 2)}\n`), /line too long/);
  // also a comment line
  assert.throws(() => parse(`#${"x".repeat(LONG_LINE_MAX)}\n`), /:1: line too long/);
  // a continued line is capped as a whole
  const half = "x".repeat(LONG_LINE_MAX / 2);
  assert.throws(() => parse(`[S]\nA=${half}\\\n${half}\\\n${half}\n`), /:3: continued line too long/);
  // ... in bytes, also when made of many short lines of 2-byte characters
  const pieces = "\u00e9\u00e9\\\n".repeat(220_000);
  assert.throws(() => parse(`[S]\nA=${pieces}end\n`), /continued line too long/);
  assert.throws(() => parse(Buffer.from(`[S]\nA=${pieces}end\n`)), /continued line too long/);
  assert.is(parse(`[S]\nA=${"\u00e9\u00e9\\\n".repeat(200_000)}end\n`).S!.A![0]!.length, 600_003);
});

test("parseSystemdBool: last value, 1/yes/true/on, default", () => {
  const i = parse("[Service]\nX-A=no\nX-A=yes\nX-B=off\n");
  assert.is(parseSystemdBool(i, "Service", "X-A", false), true);
  assert.is(parseSystemdBool(i, "Service", "X-B", true), false);
  assert.is(parseSystemdBool(i, "Service", "X-C", true), true);
  assert.is(parseSystemdBool(undefined, "Service", "X-C", false), false);
});

test("drop-ins merge in name order; masked drop-ins and units read as empty", () => {
  const top = generation({
    "a.service": "[Service]\nExecStart=/a\nX-V=0\n",
    "a.service.d/20-b.conf": "[Service]\nX-V=2\n",
    "a.service.d/10-a.conf": "[Service]\nExecStart=\nExecStart=/b\nX-V=1\n",
    "a.service.d/30-masked.conf": null,
    "a.service.d/notes.txt": "garbage",
    "m.service": null,
  });
  const dir = diskUnitDirectory(join(top, "etc/systemd/system"));
  const i = loadUnit(dir, "a.service", "a.service");
  assert.equal(i.Service!.ExecStart, ["/b"]);
  assert.equal(i.Service!.X_V ?? i.Service!["X-V"], ["0", "1", "2"]);
  assert.is(dir.fileState("m.service"), "masked");
  assert.is(dir.exists("m.service"), true);
  assert.equal(JSON.parse(JSON.stringify(loadUnit(dir, "m.service", "m.service"))), {});
  assert.is(dir.fileState("nope.service"), "missing");
});

test("templates: instance falls back to name@.type plus the instance's own drop-ins", () => {
  const dir = memoryUnitDirectory("/g", {
    "inst@.service": "[Service]\nExecStart=/t %i\n",
    "inst@.service.d/o.conf": "[Service]\nX-T=1\n",
    "inst@one.service.d/overrides.conf": "[Unit]\nX-I=one\n",
  });
  assert.equal(templateOf("inst@one.service"), ["inst", "service"]);
  assert.is(templateOf("plain.service"), undefined);
  assert.is(baseNameOf("inst@.service"), "inst@");
  assert.is(baseNameOf("-.service"), "-");
  const i = loadUnit(dir, "inst@one.service", "inst@.service");
  assert.equal(JSON.parse(JSON.stringify(i)), { Service: { ExecStart: ["/t %i"], "X-T": ["1"] }, Unit: { "X-I": ["one"] } });
});

test("unit names with a leading dash and with \\x2d are plain file names", () => {
  const top = generation({ "-.service": "[Service]\nExecStart=/a\n", "escaped\\x2ddash.service": "[Service]\nExecStart=/b\n", "escaped\\x2ddash.service.d/o.conf": "[Service]\nX=1\n" });
  const dir = diskUnitDirectory(join(top, "etc/systemd/system"));
  assert.equal(loadUnit(dir, "-.service", "-.service").Service!.ExecStart, ["/a"]);
  assert.equal(loadUnit(dir, "escaped\\x2ddash.service", "escaped\\x2ddash.service").Service!.X, ["1"]);
  assert.ok(dir.names().includes("escaped\\x2ddash.service"));
});

test("symlink loops and dangling drop-ins are errors naming the path", () => {
  const top = generation({ "loop.service": { link: "loop.service" }, "d.service": "[Service]\nA=1\n", "d.service.d/x.conf": { link: "/nonexistent/x.conf" } });
  const dir = diskUnitDirectory(join(top, "etc/systemd/system"));
  assert.is(dir.fileState("loop.service"), "present"); // refused when read, as a FIFO is
  assert.throws(() => loadUnit(dir, "loop.service", "loop.service"), (e: Error) => isUnitInputError(e) && /loop\.service: .*loop/i.test(e.message));
  assert.throws(() => loadUnit(dir, "d.service", "d.service"), /d\.service\.d\/x\.conf: dangling drop-in/);
  assert.throws(() => loadUnit(dir, "none.service", "none.service"), /none\.service: unit file not found/);
});

test("a unit file seen regular and swapped for a FIFO before it is read is refused at once, never read (no stat before the open)", () => {
  const store = generation({ "real.service": "[Service]\nExecStart=/a\n" });
  const top = generation({ "a.service": { link: join(store, "etc/systemd/system/real.service") } });
  const dir = diskUnitDirectory(join(top, "etc/systemd/system"));
  assert.is(dir.fileState("a.service"), "present");
  const target = join(store, "etc/systemd/system/real.service");
  rmSync(target);
  execFileSync("mkfifo", [target]);
  assert.throws(() => dir.read("a.service"), (e: Error) => isUnitInputError(e) && /a\.service: is a FIFO, not a regular file/.test(e.message));
});

test("more than MAX_UNIT_ENTRIES sections and settings in one file is a typed error naming the line (a 4 MiB file of headers took 150 MB)", () => {
  const ok = emptyUnitInfo();
  parseUnitText(ok, "[Service]\n" + "Environment=A=1\n".repeat(MAX_UNIT_ENTRIES - 1), "/u/ok.service");
  assert.is(ok.Service!.Environment!.length, MAX_UNIT_ENTRIES - 1);
  assert.throws(() => parseUnitText(emptyUnitInfo(), "[s]\n".repeat(MAX_UNIT_ENTRIES + 1), "/u/x.service"),
    (e: Error) => e instanceof UnitParseError && e.message === `/u/x.service:${MAX_UNIT_ENTRIES + 1}: more than ${MAX_UNIT_ENTRIES} sections and settings`);
});

test.run();
