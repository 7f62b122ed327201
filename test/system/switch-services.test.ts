/**
 * switch-test.nix, ported (part 2): "services" and "failing units", plus dry-activate leaving
 * every unit as it was. Besides NixOS's strings, the unit states are checked: restarted = a new
 * start ran (counter file and InvocationID), reloaded = ExecReload ran, untouched = neither.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type GenerationSpec } from "../harness/generation.ts";
import { assertContains, assertLacks, assertOnly, bootSwitchMachine, nixos, runSwitch, show, switchTo } from "./switch-helpers.ts";

let c: Container;

test.before(async () => {
  ({ c } = await bootSwitchMachine("services"));
});
test.after(async () => {
  await c?.halt();
});

/** NixOS's simpleService, with ExecStart/ExecReload that leave a trace. */
function simple(name: string, extraService = "", extraUnit = "", execStart = "/bin/sh -c 'echo start >> /run/test-trace'"): GenerationSpec {
  return {
    name,
    units: {
      "test.service": `[Unit]\n${extraUnit}[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=${execStart}\nExecReload=/bin/sh -c 'echo reload >> /run/test-trace'\n${extraService}`,
    },
    wantedBy: { "test.service": ["multi-user.target"] },
  };
}

const base: GenerationSpec = { name: "base" };
const simpleService = simple("simpleService");
const simpleServiceDifferentDescription = simple("simpleServiceDifferentDescription", "", "Description=Test unit\n");
const simpleServiceModified = simple("simpleServiceModified", "X-Test=true\n");
const simpleServiceNostop = simple("simpleServiceNostop", "X-StopIfChanged=false\n");
const simpleServiceReload = simple("simpleServiceReload", "X-ReloadIfChanged=true\n");
const simpleServiceNorestart = simple("simpleServiceNorestart", "X-RestartIfChanged=false\n");
const simpleServiceFailing = simple("simpleServiceFailing", "X-Test=true\n", "", "/bin/false");

const trace = () => c.sh("cat /run/test-trace 2>/dev/null").stdout;
const invocation = () => show(c, "test.service", ["InvocationID"]).InvocationID;

test("services", () => {
  switchTo(c, base);
  // Nothing happens when nothing is changed
  assertOnly(switchTo(c, base), {});

  // Start a simple service
  let out = switchTo(c, simpleService);
  assertOnly(out, { new: "test.service" });
  assert.is(trace(), "start\n");
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "active");

  // Not changing anything doesn't do anything
  let id = invocation();
  assertOnly(switchTo(c, simpleService), {});
  // Only changing the description does nothing
  assertOnly(switchTo(c, simpleServiceDifferentDescription), {});
  assert.is(invocation(), id, "untouched");
  assert.is(trace(), "start\n");

  // Restart the simple service: stopped, then started
  out = switchTo(c, simpleServiceModified);
  assertOnly(out, { stop: "test.service", start: "test.service" });
  assert.ok(out.indexOf("stopping the following units: test.service") < out.indexOf("activating the configuration..."));
  assert.is.not(invocation(), id, "a new invocation");
  assert.is(trace(), "start\nstart\n");

  // Restart the service with stopIfChanged=false
  id = invocation();
  assertOnly(switchTo(c, simpleServiceNostop), { restart: "test.service" });
  assert.is.not(invocation(), id);
  assert.is(trace(), "start\nstart\nstart\n");

  // Reload the service with reloadIfChanged=true
  id = invocation();
  assertOnly(switchTo(c, simpleServiceReload), { reload: "test.service" });
  assert.is(invocation(), id, "reloaded, not restarted");
  assert.is(trace(), "start\nstart\nstart\nreload\n");

  // Nothing happens when restartIfChanged=false
  out = switchTo(c, simpleServiceNorestart);
  assertOnly(out, { skip: "test.service" });
  assert.is(invocation(), id);
  assert.is(trace(), "start\nstart\nstart\nreload\n");
  // ...and it is restart debt until restarted
  const status = c.must(["stagehand", "status"]);
  assertContains(status, "test.service");
  c.must("systemctl restart test.service");
  // While a switch holds its lock, status only reads: the debt file is left to the switch.
  const debtBefore = c.must("cat /run/nixos/restart-debt.json");
  assertLacks(c.must("flock /run/nixos/switch-to-configuration.lock stagehand status"), "test.service");
  assert.is(c.must("cat /run/nixos/restart-debt.json"), debtBefore);
  assertLacks(c.must(["stagehand", "status"]), "test.service");
  assertLacks(c.must("cat /run/nixos/restart-debt.json"), "test.service");

  // Dry mode shows different messages, and changes nothing
  const before = c.must("systemctl list-units --all --plain --no-legend --no-pager | awk '{print $1, $3, $4}' | sort");
  const traceBefore = trace();
  id = invocation();
  out = switchTo(c, simpleService, "dry-activate");
  assertOnly(out, {});
  assertContains(out, "would activate the configuration...");
  assertContains(out, "would start the following units: test.service\n");
  // --explain adds the reason under each list; the ng lines stay as they are
  const explained = c.sh(`$(ls -d /nix/store/*-nixos-system-simpleService | head -1)/bin/switch-to-configuration dry-activate --explain 2>&1`).stdout;
  assertContains(explained, "would start the following units: test.service\n  test.service: ");
  assert.is(invocation(), id);
  assert.is(trace(), traceBefore);
  assert.is(c.must("systemctl list-units --all --plain --no-legend --no-pager | awk '{print $1, $3, $4}' | sort"), before);
  for (const l of ["start-list", "restart-list", "reload-list"]) assert.is(c.sh(`test -e /run/nixos/${l}`).status, 1, `${l} untouched`);

  // Removing the service stops it
  out = switchTo(c, base);
  assertOnly(out, { stop: "test.service" });
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "inactive");
});

test("failing units", () => {
  switchTo(c, simpleServiceModified);
  const out = switchTo(c, simpleServiceFailing, "test", true);
  assertOnly(out, { stop: "test.service", start: "test.service" });
  assertContains(out, "Failed to start test.service\n");
  assertContains(out, "warning: the following units failed: test.service\n");
  assertContains(out, "Main PID:"); // output of systemctl status
  const r = c.sh(`$(readlink -f /run/current-system)/bin/switch-to-configuration test >/dev/null 2>&1; echo $?`);
  assert.is(r.stdout.trim(), "4", "exit 4 for failed units");
  switchTo(c, base);
});

/** A switch with `--json`: its output (stderr and stdout) and the summary (stdout's last line). */
function switchJson(spec: GenerationSpec, fail = false): { out: string; summary: { settle?: { services: { unit: string; settledBy: string }[] }; failedUnits: string[] } } {
  const r = runSwitch(c, buildGeneration(c.root, nixos(spec)), "test --json");
  assert.is(r.status !== 0, fail, `switch to ${spec.name}: exit ${r.status}\n${r.out}`);
  const lines = r.out.trimEnd().split("\n");
  return { out: lines.slice(0, -1).join("\n") + "\n", summary: JSON.parse(lines.at(-1)!) };
}

test("the wait after the jobs: a service failing a moment after its start job is done is still reported", () => {
  // Type=simple: systemd ends the start job once the process is forked, so the job is "done"; the
  // failure comes 100 ms later. The shell waits for its command (wait4), which can still fail, so
  // the switch waits: until the exit, or ng's 250 ms.
  const lateFailing: GenerationSpec = {
    name: "lateFailingService",
    units: { "late.service": "[Service]\nType=simple\nExecStart=/bin/sh -c 'sleep 0.1; exit 3'\n" },
    wantedBy: { "late.service": ["multi-user.target"] },
  };
  const { out, summary } = switchJson(lateFailing, true);
  assertLacks(out, "Failed to start late.service");
  assertContains(out, "warning: the following units failed: late.service\n");
  assert.equal(summary.failedUnits, ["late.service"]);
  assert.equal(summary.settle?.services, [{ unit: "late.service", settledBy: "exited" }]);
  switchTo(c, base);
});

test("the wait after the jobs: a program failing right after its exec is reported, one at its event loop is not waited for", () => {
  // /bin/false exits as soon as it runs; `sleep infinity` blocks in pause(2), as a daemon in its
  // event loop: past its start, so the switch does not wait 250 ms for it.
  const spec: GenerationSpec = {
    name: "eventLoopAndFailing",
    units: {
      "failing.service": "[Service]\nType=simple\nExecStart=/bin/false\n",
      "failing-exec.service": "[Service]\nType=exec\nExecStart=/bin/false\n",
      "daemon.service": "[Service]\nType=simple\nExecStart=/bin/sleep infinity\n",
      "missing.service": "[Service]\nType=simple\nExecStart=/nonexistent/daemon\n",
    },
    wantedBy: { "failing.service": ["multi-user.target"], "failing-exec.service": ["multi-user.target"], "daemon.service": ["multi-user.target"], "missing.service": ["multi-user.target"] },
  };
  const { out, summary } = switchJson(spec, true);
  assertContains(out, "warning: the following units failed: failing-exec.service, failing.service, missing.service\n");
  assert.equal(summary.failedUnits, ["failing-exec.service", "failing.service", "missing.service"]);
  // Type=exec ends its job after the exec, and missing.service's exec fails in systemd's own
  // child: both may have exited before the wait began, and then are not waited for at all.
  const by = Object.fromEntries((summary.settle?.services ?? []).map((s) => [s.unit, s.settledBy]));
  assert.is(by["daemon.service"], "waiting-for-events", JSON.stringify(summary.settle));
  for (const u of ["failing.service", "failing-exec.service", "missing.service"]) assert.ok(by[u] === undefined || by[u] === "exited", `${u}: ${by[u]}`);
  assert.is(show(c, "daemon.service", ["ActiveState"]).ActiveState, "active");
  switchTo(c, base);
});

test("the wait after the jobs: in auto-restart, failing or not, as switch-test expects", () => {
  const autorestart = (name: string, exec: string): GenerationSpec => ({
    name,
    units: { "autorestart.service": `[Service]\nType=simple\nRestart=always\nRestartSec=20y\nExecStart=${exec}\n` },
    wantedBy: { "autorestart.service": ["multi-user.target"] },
  });
  let { out, summary } = switchJson(autorestart("autorestartService", "/bin/true"));
  assertContains(out, "the following new units were started: autorestart.service\n");
  assertLacks(out, "failed");
  assert.equal(summary.settle?.services, [{ unit: "autorestart.service", settledBy: "exited" }]);
  c.must("systemctl stop autorestart.service");
  ({ out, summary } = switchJson(autorestart("autorestartServiceFailing", "/bin/false"), true));
  assertContains(out, "warning: the following units failed: autorestart.service\n");
  assert.equal(summary.settle?.services, [{ unit: "autorestart.service", settledBy: "exited" }]);
  c.must("systemctl stop autorestart.service");
  switchTo(c, base);
});

test("--json summary", () => {
  const gen = switchTo(c, simpleService); // start it
  void gen;
  const r = c.sh(`$(readlink -f /run/current-system)/bin/switch-to-configuration test --json 2>/dev/null`);
  assert.is(r.status, 0);
  const s = JSON.parse(r.stdout);
  assert.is(s.action, "test");
  assert.is(s.exitCode, 0);
  assert.is(s.activation, "ok");
  assert.ok(Array.isArray(s.phases) && s.phases.some((p: { phase: string }) => p.phase === "activate"));
  switchTo(c, base);
});

test("services: the activation script in a separate store path (system.activatable = false)", () => {
  switchTo(c, base);
  // NixOS builds such a system without activate, dry-activate and bin/switch-to-configuration in
  // the toplevel; system.build.separateActivationScript holds them, its wrapper sets OUT to itself
  // and TOPLEVEL to the system. The switch must take its scripts from OUT and its units from TOPLEVEL.
  const gen = buildGeneration(c.root, nixos(simple("simpleServiceSeparateActivationScript")));
  const sep = `${gen.toplevel}-separate-activation`;
  c.must(`rm -rf ${sep} && mkdir -p ${sep}/bin && mv ${gen.toplevel}/activate ${gen.toplevel}/dry-activate ${sep}/`
    + ` && mv ${gen.toplevel}/bin/switch-to-configuration ${sep}/bin/`
    + ` && sed -i "s|^export OUT=.*|export OUT='${sep}'|" ${sep}/bin/switch-to-configuration`);
  const r = runSwitch(c, `${sep}`, "test");
  assert.is(r.status, 0, r.out);
  assertOnly(r.out, { new: "test.service" });
  for (const f of ["activate", "dry-activate", "bin/switch-to-configuration"]) {
    assert.is(c.sh(`test -e /run/current-system/${f}`).status, 1, `/run/current-system/${f} must not exist`);
  }
  assert.is(c.must("readlink /run/current-system").trim(), gen.toplevel);
  switchTo(c, base);
});

test.run();
