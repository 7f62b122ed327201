import { test } from "uvu";
import * as assert from "uvu/assert";
import { compareUnits } from "../../../src/units/compare.ts";
import { emptyUnitInfo, parseUnitText } from "../../../src/units/parse.ts";

const u = (text: string) => { const i = emptyUnitInfo(); parseUnitText(i, text, "/t"); return i; };
const kind = (a: string, b: string) => compareUnits(u(a), u(b)).kind;
const base = "[Unit]\nDescription=x\n[Service]\nExecStart=/a\nExecReload=/r\n";

test("equal units, and ignored [Unit] keys changed, added or removed", () => {
  assert.is(kind(base, base), "equal");
  assert.is(kind(base, base.replace("Description=x", "Description=y")), "equal");
  assert.is(kind(base, base.replace("[Unit]\n", "[Unit]\nRefuseManualStart=true\nOnFailure=f.service\n")), "equal");
  assert.is(kind(base, base.replace("Description=x\n", "")), "equal");
  assert.is(kind("[Unit]\nDescription=x\n[Service]\nA=1\n", "[Service]\nA=1\n"), "equal");
  assert.is(kind("[Service]\nA=1\n", "[Unit]\nDocumentation=man:x\n[Service]\nA=1\n"), "equal");
});

test("[Install] is ignored (simpleServiceWithInstallSection)", () => {
  assert.is(kind(base, base + "[Install]\nWantedBy=multi-user.target\n"), "equal");
});

test("X-Reload-Triggers alone means reload; with anything else restart", () => {
  const t = (v: string) => base.replace("[Unit]\n", `[Unit]\nX-Reload-Triggers=${v}\n`);
  assert.is(kind(t("/dev/null"), t("/dev/zero")), "reload");
  assert.is(kind(base, t("/dev/zero")), "reload");
  assert.is(kind(t("/dev/zero"), base), "equal");
  assert.is(kind(t("/dev/null"), t("/dev/zero").replace("ExecStart=/a", "ExecStart=/a\nX-Test=test")), "restart");
  assert.is(kind("[Service]\nA=1\n", "[Unit]\nX-Reload-Triggers=x\n[Service]\nA=1\n"), "reload");
  assert.is(kind("[Service]\nA=1\n", "[Unit]\nX-Reload-Triggers=x\nRequires=y\n[Service]\nA=1\n"), "restart");
});

test("ExecReload: changed or added alone means reload, removed means nothing", () => {
  assert.is(kind(base, base.replace("ExecReload=/r", "ExecReload=/r2")), "reload");
  assert.is(kind(base, base.replace("ExecReload=/r\n", "")), "equal");
  assert.is(kind(base.replace("ExecReload=/r\n", ""), base), "reload");
  assert.is(kind("[Unit]\nA=1\n", "[Unit]\nA=1\n[Service]\nExecReload=/r\n"), "reload");
  assert.is(kind("[Unit]\nA=1\n[Service]\nExecReload=/r\n", "[Unit]\nA=1\n"), "equal");
});

test("[Mount] Options alone means reload; What changed restarts", () => {
  const m = (what: string, o: string) => `[Mount]\nWhat=${what}\nWhere=/testmount\nType=${what}\nOptions=${o}\n`;
  assert.is(kind(m("tmpfs", "size=1M"), m("tmpfs", "size=10M")), "reload");
  assert.is(kind(m("tmpfs", "size=10M"), m("ramfs", "size=10M")), "restart");
});

test("sections or keys added, removed or changed mean restart, with a reason", () => {
  const r = compareUnits(u(base), u(base.replace("ExecStart=/a", "ExecStart=/a\nX-Test=test")));
  assert.equal(r, { kind: "restart", reason: "[Service] X-Test= added" });
  assert.is(kind(base, base + "[X-Test]\nX-Test-Value=a\n"), "restart");
  assert.is(kind(base + "[X-Test]\nX-Test-Value=a\n", base + "[X-Test2]\nX-Test-Value=a\n"), "restart");
  assert.equal(compareUnits(u(base), u(base.replace("ExecStart=/a", "ExecStart=/b"))), { kind: "restart", reason: "[Service] ExecStart= changed" });
  assert.is(kind(base, base.replace("[Unit]\n", "[Unit]\nRequires=a.service\n")), "restart");
  assert.is(kind(base.replace("[Unit]\n", "[Unit]\nX-Restart-Triggers=a\n"), base.replace("[Unit]\n", "[Unit]\nX-Restart-Triggers=b\n")), "restart");
  assert.is(kind("[Unit]\nRequires=a\n[Service]\nA=1\n", "[Service]\nA=1\n"), "restart");
  assert.is(kind(base, "[Unit]\nDescription=x\n"), "restart");
});

test.run();
