import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isNixos, parseAction, readSwitchEnv, requireNixos, requireRootUser } from "../../../../src/switch/host/contract.ts";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { tempDir } from "../../tmp.ts";

const full = { OUT: "/o", TOPLEVEL: "/t", DISTRO_ID: "nixos", PRE_SWITCH_CHECK: "true", INSTALL_BOOTLOADER: "true", SYSTEMD: "/s" };

function exitOf(fn: () => unknown): SwitchExit {
  try { fn(); } catch (e) { if (e instanceof SwitchExit) return e; throw e; }
  throw new Error("no SwitchExit thrown");
}

test("actions are exactly ng's five", () => {
  for (const a of ["switch", "boot", "test", "dry-activate", "check"]) assert.is(parseAction(a), a);
  for (const a of ["", "Switch", "broken-action", undefined]) assert.is(parseAction(a), undefined);
});

test("every required variable is named when missing", () => {
  for (const k of Object.keys(full)) {
    const env: Record<string, string> = { ...full };
    delete env[k];
    const e = exitOf(() => readSwitchEnv(env));
    assert.is(e.code, 1);
    assert.equal(e.lines, [`Error: missing required environment variable $${k}`]);
  }
});

test("flags: only the value 1 counts", () => {
  const e = readSwitchEnv({ ...full, NIXOS_NO_CHECK: "1", NIXOS_NO_SYNC: "yes", STC_DISPLAY_ALL_UNITS: "1", LOCALE_ARCHIVE: "/l" });
  assert.is(e.noCheck, true);
  assert.is(e.noSync, false);
  assert.is(e.displayAllUnits, true);
  assert.is(e.localeArchive, "/l");
});

function root(files: Record<string, string>): string {
  const r = tempDir("stc-root-");
  mkdirSync(join(r, "etc"));
  for (const [p, c] of Object.entries(files)) writeFileSync(join(r, p), c);
  return r;
}

test("NixOS is recognised by /etc/NIXOS or os-release ID, quoted or not", () => {
  assert.ok(isNixos(root({ "etc/NIXOS": "", "etc/os-release": "ID=debian\n" }), "nixos"));
  assert.ok(isNixos(root({ "etc/os-release": "NAME=NixOS\nID=nixos\n" }), "nixos"));
  assert.ok(isNixos(root({ "etc/os-release": 'ID="nixos"\n' }), "nixos"));
  assert.not.ok(isNixos(root({ "etc/os-release": "ID=debian\n" }), "nixos"));
  assert.not.ok(isNixos(root({ "etc/os-release": "ID=nixo.\n" }), "nixos"), "literal, not a regex");
  assert.not.ok(isNixos(root({ "etc/os-release": "ID=nixos\n" }), "nixo."), "literal, not a regex");
});

test("os-release as ng reads it: CRLF line ends are lines, bytes that are not UTF-8 fail the read (exit 1)", () => {
  assert.ok(isNixos(root({ "etc/os-release": "NAME=NixOS\r\nID=nixos\r\n" }), "nixos"));
  // As the real ng: a CR with no LF after it stays, and so does a BOM (checked against the binary).
  assert.not.ok(isNixos(root({ "etc/os-release": "ID=nixos\r" }), "nixos"));
  assert.not.ok(isNixos(root({ "etc/os-release": "\ufeffID=nixos\n" }), "nixos"));
  const dir = root({});
  writeFileSync(join(dir, "etc/os-release"), Buffer.from([0x49, 0x44, 0x3d, 0x6e, 0xff, 0x0a]));
  const e = exitOf(() => isNixos(dir, "nixos"));
  assert.is(e.code, 1);
  assert.match(e.lines.join("\n"), /Failed to read \/etc\/os-release[^]*stream did not contain valid UTF-8/);
});

test("not NixOS: ng's message and errno status", () => {
  const e = exitOf(() => requireNixos(root({ "etc/os-release": "ID=debian\n" }), "nixos"));
  assert.equal(e.lines, ["This is not a NixOS installation!"]);
  assert.is(e.code, 2);
});

test("a missing os-release is an error, as in ng", () => {
  const e = exitOf(() => isNixos(root({ "etc/NIXOS": "" }), "nixos"));
  assert.is(e.code, 1);
  assert.match(e.lines[0]!, "Failed to parse os-release");
});

test("an os-release that is not a regular file is refused, never read (a FIFO would hang the switch)", () => {
  const dir = root({ "etc/NIXOS": "" });
  execFileSync("mkfifo", [join(dir, "etc/os-release")]);
  const e = exitOf(() => isNixos(dir, "nixos"));
  assert.is(e.code, 1);
  assert.match(e.lines.join("\n"), /Failed to read \/etc\/os-release[^]*is a FIFO, not a regular file/);
});

test("root is required", () => {
  const e = exitOf(() => requireRootUser("switch-to-configuration", 1000));
  assert.equal(e.lines, ["Error: switch-to-configuration must be run as the root user"]);
  requireRootUser("x", 0);
});

test.run();
