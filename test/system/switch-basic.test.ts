/**
 * switch-test.nix, ported (part 1) against real systemd in a container: "pre-switch checks",
 * "actions", "init interface version", "systemd restarts", "continuing from an aborted switch",
 * "aborts on already locked lock file". Same strings as NixOS's test asserts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type Generation } from "../harness/generation.ts";
import { assertContains, assertLacks, bootSwitchMachine, nixos, runSwitch, switchTo } from "./switch-helpers.ts";
import { assertValid, lastLineDocument } from "../unit/schemas/validate.ts";

let c: Container;
let base: Generation;
const BOOT_LOADER_MARK = "/run/stagehand-test/bootloader";

test.before(async () => {
  ({ c, base } = await bootSwitchMachine("basic"));
});
test.after(async () => {
  await c?.halt();
});

test("first switch to the running configuration, then without /etc/NIXOS (os-release fallback)", () => {
  const r = runSwitch(c, base, "test");
  assert.is(r.status, 0, r.out);
  c.must("rm /etc/NIXOS && grep -q '^ID=' /etc/os-release");
  // The container's os-release says debian: a generation with DISTRO_ID=debian is accepted...
  const deb = buildGeneration(c.root, nixos({ name: "base", distroId: "debian" }));
  assert.is(runSwitch(c, deb, "test").status, 0);
  // ...and DISTRO_ID=nixos is refused without /etc/NIXOS.
  const r2 = runSwitch(c, base, "test");
  assert.is.not(r2.status, 0);
  assertContains(r2.out, "This is not a NixOS installation!");
  c.must("touch /etc/NIXOS");
});

test("pre-switch checks", () => {
  switchTo(c, { name: "other" }, "check");
  const out = switchTo(c, { name: "failingCheck", preSwitchCheck: "echo this will fail; exit 1" }, "check", true);
  assertContains(out, "this will fail");
  assertContains(out, "Pre-switch checks failed");
  // NIXOS_NO_CHECK=1 skips it
  const gen = buildGeneration(c.root, nixos({ name: "failingCheck", preSwitchCheck: "echo this will fail; exit 1" }));
  assert.is(runSwitch(c, gen, "check", { NIXOS_NO_CHECK: "1" }).status, 0);
});

test("actions", () => {
  c.must(`rm -f ${BOOT_LOADER_MARK}`);
  // boot: installs the boot loader, does not activate
  let out = switchTo(c, { name: "base" }, "boot");
  assertLacks(out, "activating the configuration...");
  assert.is(c.must(`cat ${BOOT_LOADER_MARK}`), `${base.toplevel}\n`);
  // switch: both
  out = switchTo(c, { name: "base" }, "switch");
  assertContains(out, "activating the configuration...");
  assert.is(c.must(`cat ${BOOT_LOADER_MARK}`), `${base.toplevel}\n${base.toplevel}\n`);
  // test: activates, no boot loader
  out = switchTo(c, { name: "base" }, "test");
  assertContains(out, "activating the configuration...");
  assert.is(c.must(`wc -l < ${BOOT_LOADER_MARK}`).trim(), "2");
  // a failing boot loader stops the switch before activation
  out = switchTo(c, { name: "base", installBootloader: "exit 1" }, "switch", true);
  assertContains(out, "Failed to install bootloader");
  assertLacks(out, "activating the configuration...");
  // invalid and missing actions
  const bad = runSwitch(c, base, "broken-action");
  assert.is(bad.status, 1);
  assertContains(bad.out, "Usage:");
  const none = c.sh(`${base.toplevel}/bin/switch-to-configuration 2>&1`);
  assert.is(none.status, 1);
  assertContains(none.stdout, "Usage: switch-to-configuration [check|switch|boot|test|dry-activate]\n");
});

test("init interface version", () => {
  const gen = buildGeneration(c.root, nixos({ name: "brokenInitInterface", initInterfaceVersion: "systemd 0" }));
  const r = runSwitch(c, gen, "test");
  assert.is(r.status, 100);
  assertContains(r.out, "incompatible");
  assertLacks(r.out, "activating the configuration...");
});

test("systemd restarts", () => {
  // PID 1 stays PID 1 across a re-exec; its journal shows that it happened.
  const reexecs = () => Number(c.sh("journalctl -b -o cat _PID=1 | grep -c '^Reexecuting'").stdout.trim() || "0");
  const before = reexecs();
  const out = switchTo(c, { name: "modifiedSystemConf", systemConf: "[Manager]\nDefaultEnvironment=XXX_SYSTEM=foo\n" });
  assertContains(out, "restarting systemd...");
  assert.ok(reexecs() > before, "PID 1 re-executed");
  assert.match(c.must("systemctl show-environment"), "XXX_SYSTEM=foo");
  // the same configuration again: no re-exec
  assertLacks(switchTo(c, { name: "modifiedSystemConf", systemConf: "[Manager]\nDefaultEnvironment=XXX_SYSTEM=foo\n" }), "restarting systemd...");
});

test("continuing from an aborted switch", () => {
  c.must("echo dbus.service > /run/nixos/start-list");
  const out = switchTo(c, { name: "modifiedSystemConf", systemConf: "[Manager]\nDefaultEnvironment=XXX_SYSTEM=foo\n" });
  assertContains(out, "starting the following units: dbus.service\n");
  assert.is(c.sh("test -e /run/nixos/start-list").status, 1, "start-list consumed");
});

test("aborts on already locked lock file", () => {
  const gen = buildGeneration(c.root, nixos({ name: "other" }));
  const r = c.sh(`timeout 20 flock -x --nb /run/nixos/switch-to-configuration.lock -c "${gen.toplevel}/bin/switch-to-configuration test" 2>&1`);
  assert.ok(r.status !== 0 && r.status < 124, `expected a quick failure, got ${r.status}\n${r.stdout}`);
  assertContains(r.stdout, "Could not acquire lock");
  assertLacks(r.stdout, "activating the configuration...");
});

test("--json: the summaries of real switches match docs/schemas/switch-summary.schema.json", () => {
  type Summary = { exitCode: number; stopped: string[]; failedJobs: { unit: string }[]; failedUnits: string[]; phases: { phase: string }[]; systemdRestarted: boolean };
  /** The switch with --json: the document is the last line of stdout; the human lines stay on stderr. */
  const summary = (gen: Generation, action: string, what: string): Summary => {
    const r = c.sh(`${gen.toplevel}/bin/switch-to-configuration ${action} --json`, { timeoutMs: 300_000 });
    const doc = lastLineDocument(r.stdout, what) as Summary;
    assertValid("switch-summary", doc, what);
    assert.is(doc.exitCode, r.status, `${what}: exitCode is the exit status\n${r.stderr}`);
    return doc;
  };
  const unit = (execStart: string) => `[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=${execStart}\n`;
  // Its own system.conf, so that the first switch to it re-executes systemd whatever ran before.
  const gen = (name: string, execStart: string) => buildGeneration(c.root, nixos({
    name, systemConf: "[Manager]\nDefaultEnvironment=JSON_PROBE=1\n",
    units: { "json-probe.service": unit(execStart) }, wantedBy: { "json-probe.service": ["multi-user.target"] },
  }));
  const ok = gen("jsonProbe", "/bin/true");
  const failing = gen("jsonProbeFailing", "/bin/false");
  // A dry run, then a new unit and a new system.conf (systemd re-executes).
  summary(ok, "dry-activate", "dry-activate --json");
  const started = summary(ok, "test", "test --json (a new unit)");
  assert.is(started.exitCode, 0);
  assert.ok(started.systemdRestarted && started.phases.some((p) => p.phase === "reexecute"), JSON.stringify(started));
  // The unit changed to one that fails: a failed job and a failed unit, exit 4.
  const failed = summary(failing, "test", "test --json (a failing unit)");
  assert.is(failed.exitCode, 4);
  assert.ok(failed.failedJobs.some((j) => j.unit === "json-probe.service"), JSON.stringify(failed));
  assert.ok(failed.failedUnits.includes("json-probe.service"), JSON.stringify(failed));
  // Working again (the switch's reset-failed made it inactive: it is started anew), then back to
  // the base generation: the unit is stopped.
  assert.is(summary(ok, "test", "test --json (the unit fixed)").exitCode, 0);
  const back = summary(base, "test", "test --json (the unit removed)");
  assert.ok(back.stopped.includes("json-probe.service"), JSON.stringify(back));
});

test.run();
