/**
 * Issue 14 §3 and §4 against a real systemd: stagehand reads unit files as systemd reads them, and
 * the switch is never wedged by its own list files.
 *
 * - Crafted unit files (lone CR, NUL, CR LF, LF CR, a line without "=", bad section headers, a
 *   line that is not UTF-8, a byte order mark, lines at and over systemd's length limit) are
 *   loaded by the container's systemd; what `systemctl show` reports (loaded or not, Description,
 *   ExecStart) must be what stagehand's parser reads from the same bytes.
 * - A switch whose only change hides behind a CR (`Description=x\r[Service]\rExecStart=...`) or a
 *   NUL restarts the unit, as systemd runs the new ExecStart.
 * - A noauto fstab mount whose options change goes onto reload-list; at reload time systemd has
 *   not loaded it (GetUnit: NoSuchUnit). The switch and three more after it exit 0.
 * - An active unit the activation script asks to restart, with no file in the generation, is
 *   restarted; the switch and the next ones exit 0.
 * - An fstab mount point written with ` ` is the unit systemd generates (`my space.mount`).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { join } from "node:path";
import { diskUnitDirectory } from "../../src/units/dir.ts";
import { emptyUnitInfo, LONG_LINE_MAX, parseUnitText, UnitParseError } from "../../src/units/parse.ts";
import { assertContains, assertLacks, assertOnly, bootSwitchMachine, runSwitch, show, switchTo } from "./switch-helpers.ts";
import { build } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("unit-syntax"));
});
test.after(async () => {
  await c?.halt();
});

const SERVICE = "[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\n";
const b = (s: string) => Buffer.from(s, "latin1");

/** Crafted unit files by name (t-NAME.service), as bytes. */
function cases(): Record<string, Buffer> {
  const longDesc = (lineBytes: number) => b(`[Unit]\nDescription=${"x".repeat(lineBytes - "Description=".length)}\n${SERVICE}`);
  const half = "y".repeat(LONG_LINE_MAX / 2);
  return {
    "cr": b("[Unit]\nDescription=cr\r[Service]\rExecStart=/bin/echo hidden\n"),
    "nul": b("[Unit]\nDescription=nul\0[Service]\0ExecStart=/bin/echo hidden\n"),
    "crlf": b(`[Unit]\r\nDescription=crlf\r\n${SERVICE.replaceAll("\n", "\r\n")}`),
    "lfcr-continues": b(`[Unit]\nDescription=a\\\n\rb\n${SERVICE}`),
    "lflf-ends": b(`[Unit]\nDescription=a\\\n\nb\n${SERVICE}`),
    "crnul-one-end": b(`[Unit]\nDescription=c\\\r\0d\n${SERVICE}`),
    "no-equals": b(`[Unit]\nDescription=noeq\nthis line has no equals sign\n${SERVICE}`),
    "empty-key": b(`[Unit]\nDescription=ek\n=value\n  = other\n${SERVICE}`),
    "before-section": b(`Description=early\n[Unit]\nDescription=late\n${SERVICE}`),
    "comment-in-continuation": b(`[Unit]\nDescription=e\\\n# skipped\n; skipped\nf\n${SERVICE}`),
    "even-backslashes": b(`[Unit]\nDescription=g\\\\\n${SERVICE}`),
    "no-inline-comment": b(`[Unit]\nDescription=ic #not ;a comment\n${SERVICE}`),
    "indented-comment": b(`[Unit]\n   # Description=hidden\n\t; x\nDescription=ind\n${SERVICE}`),
    "colon-in-key": b(`[Unit]\nDescription=colon\nX-A:b=c\n${SERVICE}`),
    "quotes-kept": b(`[Unit]\nDescription="quoted" 'x'\n${SERVICE}`),
    "unterminated-header": b(`[Unit\nDescription=x\n${SERVICE}`),
    "header-with-quote": b(`[Un"it]\nDescription=x\n${SERVICE}`),
    "header-with-control": b(`[Un\x01it]\nDescription=x\n${SERVICE}`),
    "empty-header": b(`[Unit]\nDescription=eh\n[]\nA=b\n${SERVICE}`),
    "not-utf8-value": b(`[Unit]\nDescription=bad\xff\n${SERVICE}`),
    "not-utf8-comment": b(`# \xff\xfe\n[Unit]\nDescription=okcomment\n${SERVICE}`),
    "bom": b(`\xef\xbb\xbf[Unit]\nDescription=bom\n${SERVICE}`),
    "nbsp-kept": b(`[Unit]\nDescription=\xc2\xa0nbsp\xc2\xa0\n${SERVICE}`),
    "long-line-fits": longDesc(LONG_LINE_MAX - 1),
    "long-line-too-long": longDesc(LONG_LINE_MAX),
    "long-comment-too-long": b(`#${"z".repeat(LONG_LINE_MAX)}\n[Unit]\nDescription=lc\n${SERVICE}`),
    "continued-too-long": b(`[Unit]\nDescription=${half}\\\n${half}\\\n${half}\n${SERVICE}`),
    // Continued lines of 1,000 two-byte characters: 600 are under 1 MiB in characters, over it in
    // bytes. (Not many short lines: systemd joins a continuation in quadratic time.)
    "continued-multibyte-too-long": Buffer.from(`[Unit]\nDescription=${`${"\u00e9".repeat(1000)}\\\n`.repeat(600)}end\n${SERVICE}`),
    "continued-multibyte-fits": Buffer.from(`[Unit]\nDescription=${`${"\u00e9".repeat(1000)}\\\n`.repeat(500)}end\n${SERVICE}`),
  };
}

/** What stagehand's parser makes of a file: refused, or its last Description and ExecStart. */
function ours(bytes: Buffer): { loaded: false } | { loaded: true; description: string; execStart: string[] } {
  const info = emptyUnitInfo();
  try {
    parseUnitText(info, bytes, "/t.service");
  } catch (e) {
    if (e instanceof UnitParseError) return { loaded: false };
    throw e;
  }
  const d = info.Unit?.Description ?? [];
  return { loaded: true, description: d[d.length - 1] ?? "", execStart: info.Service?.ExecStart ?? [] };
}

test("stagehand reads crafted unit files as the container's systemd does", () => {
  const all = cases();
  for (const [name, bytes] of Object.entries(all)) c.writeFile(`/usr/local/lib/systemd/system/t-${name}.service`, bytes);
  c.must("systemctl daemon-reload");
  const mismatches: string[] = [];
  for (const [name, bytes] of Object.entries(all)) {
    const unit = `t-${name}.service`;
    const s = show(c, unit, ["LoadState", "Description", "ExecStart"]);
    const mine = ours(bytes);
    const theirs = s.LoadState === "loaded";
    if (theirs !== mine.loaded) {
      mismatches.push(`${name}: systemd LoadState=${s.LoadState}, stagehand ${mine.loaded ? "reads it" : "refuses it"}`);
      continue;
    }
    if (!mine.loaded) continue;
    if (s.Description !== mine.description) mismatches.push(`${name}: Description: systemd ${JSON.stringify(s.Description!.slice(0, 80))}, stagehand ${JSON.stringify(mine.description.slice(0, 80))}`);
    // systemd shows each command as "{ path=… ; argv[]=ARGS ; … }"; ours are the raw values.
    const argv = [...(s.ExecStart ?? "").matchAll(/argv\[\]=([^;]*) ;/g)].map((m) => m[1]!.trim());
    if (JSON.stringify(argv) !== JSON.stringify(mine.execStart)) mismatches.push(`${name}: ExecStart: systemd ${JSON.stringify(argv)}, stagehand ${JSON.stringify(mine.execStart)}`);
  }
  assert.equal(mismatches, [], `stagehand and systemd ${c.systemdVersion} read these differently:\n${mismatches.join("\n")}`);
  // The cases that matter most, spelt out: systemd sees the hidden ExecStart, and loads a unit with
  // a line without "=" (a warning), but refuses one with an overlong line.
  assert.ok(ours(all["cr"]!).loaded && (ours(all["cr"]!) as { execStart: string[] }).execStart[0] === "/bin/echo hidden");
  assert.is(show(c, "t-no-equals.service", ["LoadState"]).LoadState, "loaded");
  assert.is.not(show(c, "t-long-line-too-long.service", ["LoadState"]).LoadState, "loaded");
  // A drop-in folder that loops on itself: systemd loads the unit without drop-ins, as stagehand reads it.
  c.writeFile("/usr/local/lib/systemd/system/t-loopdrop.service", `[Unit]\nDescription=loopdrop\n${SERVICE}`);
  c.must("ln -s t-loopdrop.service.d /usr/local/lib/systemd/system/t-loopdrop.service.d && systemctl daemon-reload");
  assert.equal(show(c, "t-loopdrop.service", ["LoadState", "DropInPaths"]), { LoadState: "loaded", DropInPaths: "" });
  assert.equal(diskUnitDirectory(join(c.root, "usr/local/lib/systemd/system")).dropins("t-loopdrop.service"), []);
  c.sh("rm -f /usr/local/lib/systemd/system/t-loopdrop.service /usr/local/lib/systemd/system/t-loopdrop.service.d");
  // An empty unit file is masked, for systemd as for stagehand's unit directory.
  c.writeFile("/usr/local/lib/systemd/system/t-empty.service", "");
  c.must("systemctl daemon-reload");
  assert.is(show(c, "t-empty.service", ["LoadState"]).LoadState, "masked");
  assert.is(diskUnitDirectory(join(c.root, "usr/local/lib/systemd/system")).fileState("t-empty.service"), "masked");
  c.sh("rm -f /usr/local/lib/systemd/system/t-empty.service");
  const verify = c.sh("systemd-analyze verify /usr/local/lib/systemd/system/t-no-equals.service 2>&1").stdout;
  assertContains(verify, "Missing '='");
  for (const name of Object.keys(all)) c.sh(`rm -f /usr/local/lib/systemd/system/t-${name}.service`);
  c.must("systemctl daemon-reload");
});

/** A oneshot that records which ExecStart ran; `tail` is appended in [Unit] after everything else. */
function hidden(name: string, tail: string): GenerationSpec {
  return {
    name,
    units: { "hide.service": `[Unit]\nDescription=x\n[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/sh -c 'echo one >> /run/hide'\n[Unit]\n${tail}\n` },
    wantedBy: { "hide.service": ["multi-user.target"] },
  };
}

test("an ExecStart change behind a CR or a NUL is seen: the unit is restarted", () => {
  switchTo(c, hidden("hideBase", "Description=x"));
  assert.is(c.must("cat /run/hide"), "one\n");
  // Before: stagehand read one [Unit] Description= change (ignored) and restarted nothing, while
  // systemd had a new ExecStart.
  let out = switchTo(c, hidden("hideCr", "Description=x\r[Service]\rExecStart=\rExecStart=/bin/sh -c 'echo two >> /run/hide'"));
  assertOnly(out, { stop: "hide.service", start: "hide.service" });
  assert.is(c.must("cat /run/hide"), "one\ntwo\n");
  out = switchTo(c, hidden("hideNul", "Description=x\0[Service]\0ExecStart=\0ExecStart=/bin/sh -c 'echo three >> /run/hide'"));
  assertOnly(out, { stop: "hide.service", start: "hide.service" });
  assert.is(c.must("cat /run/hide"), "one\ntwo\nthree\n");
  switchTo(c, { name: "hideGone" });
});

test("a noauto mount whose options change does not wedge the switch (reload-list)", () => {
  const fstab = (name: string, opts: string): GenerationSpec => ({ name, fstab: `tmpfs /noautotest tmpfs noauto,${opts} 0 0\n` });
  let out = switchTo(c, fstab("noautoA", "size=1m"));
  assertLacks(out, "noautotest");
  // The options change: planned as a reload; systemd has not loaded the unit, so it is not active
  // and cannot be started from the generation's units: dropped. Before: "Failed to get unit", exit 1.
  const r = runSwitch(c, build(c, fstab("noautoB", "size=2m")));
  assert.is(r.status, 0, `options change of a noauto mount:\n${r.out}`);
  assertOnly(r.out, {});
  assertLacks(r.out, "noautotest");
  assert.is(c.sh("grep -c noautotest /run/nixos/reload-list 2>/dev/null").stdout.trim() || "0", "0", "reload-list no longer holds it");
  // Three more switches: each exits 0 (before, each aborted the same way while reload-list held the mount).
  for (const [name, opts, svc] of [["noautoC", "size=3m", false], ["noautoD", "size=3m", true], ["noautoE", "size=4m", true]] as const) {
    const spec: GenerationSpec = { ...fstab(name, opts), ...(svc ? { units: { "after.service": SERVICE }, wantedBy: { "after.service": ["multi-user.target"] } } : {}) };
    const next = runSwitch(c, build(c, spec));
    assert.is(next.status, 0, `${name}:\n${next.out}`);
    assertLacks(next.out, "Failed to");
    if (name === "noautoD") assertContains(next.out, "the following new units were started: after.service\n");
  }
  assert.is(show(c, "after.service", ["ActiveState"]).ActiveState, "active");
  switchTo(c, { name: "noautoGone" });
});

test("an activation-script restart of an active unit with no file in the generation does not wedge the switch", () => {
  // A unit systemd runs from /run, outside any generation: active, but nothing to read for it.
  c.must("mkdir -p /run/systemd/system && cat > /run/systemd/system/outside.service && systemctl daemon-reload && systemctl start outside.service", { input: `[Unit]\nDescription=outside\n${SERVICE}` });
  const before = show(c, "outside.service", ["InvocationID"]).InvocationID;
  const out = switchTo(c, { name: "asksOutside", activationRestartList: ["outside.service"] });
  assertContains(out, "\nrestarting the following units: outside.service\n");
  assert.is.not(show(c, "outside.service", ["InvocationID"]).InvocationID, before, "restarted as asked");
  assert.is(c.sh("test -e /run/nixos/activation-restart-list").status, 1, "request list consumed");
  for (const name of ["afterAsk1", "afterAsk2"]) switchTo(c, { name });
  c.sh("systemctl stop outside.service; rm -f /run/systemd/system/outside.service; systemctl daemon-reload");
});

test("an fstab mount point with an escaped space is the unit systemd generates for it", () => {
  // NixOS writes a space in a mount point as \040; systemd-fstab-generator (libmount) decodes it.
  // ng names the unit mnt\x5c040…, which does not exist, and misses the real one.
  const fstab = (name: string, opts: string): GenerationSpec => ({ name, fstab: `tmpfs /my\\040space tmpfs ${opts} 0 0\n` });
  let out = switchTo(c, fstab("spaceA", "size=1m"));
  assertContains(out, "the following new units were started: my\\x20space.mount\n");
  out = switchTo(c, fstab("spaceB", "size=2m"));
  assertOnly(out, { reload: "my\\x20space.mount" });
  assertContains(c.must("findmnt -n -o OPTIONS '/my space'"), "size=2048k");
  out = switchTo(c, { name: "spaceGone" });
  assertOnly(out, { stop: "my\\x20space.mount" });
  assert.is(c.sh("findmnt '/my space'").status, 1, "unmounted");
});

test.run();
