/**
 * switch-test.nix, ported (part 5): the unit-name and requirement cases of "services" (multi-line
 * values, `\x2d` in names, names starting with a dash, requirements, templates), and the
 * auto-restart cases of "failing units". ("unit file parser" itself: switch-unit-parser.test.ts.)
 */
import { test } from "uvu";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec, UnitEntry } from "../harness/generation.ts";
import { assertContains, assertLacks, assertOnly, bootSwitchMachine, switchTo } from "./switch-helpers.ts";

let c: Container;

test.before(async () => {
  ({ c } = await bootSwitchMachine("parser"));
});
test.after(async () => {
  await c?.halt();
});

const SIMPLE = "[Unit]\n[Service]\nExecReload=/bin/true\nExecStart=/bin/true\nRemainAfterExit=true\nType=oneshot\n";

function testService(name: string, units: Record<string, UnitEntry>): GenerationSpec {
  return { name, units, wantedBy: { "test.service": ["multi-user.target"] } };
}

test("services: multi-line values, backslashes and dashes in names, requirements, templates", () => {
  switchTo(c, testService("simpleService", { "test.service": SIMPLE }));
  let out = switchTo(c, { name: "unitWithMultilineValue", units: { "test.service": "[Unit]\n[Service]\nExecStart=/bin/true \\\n# ignored\n; ignored\n  blah blah\n" } });
  assertContains(out, "starting the following units: test.service");

  const backslash = (name: string, extra: string): GenerationSpec => ({ name, units: { "escaped\\x2ddash.service": SIMPLE + extra }, wantedBy: { "escaped\\x2ddash.service": ["multi-user.target"] } });
  out = switchTo(c, backslash("unitWithBackslash", ""));
  assertOnly(out, { new: "escaped\\x2ddash.service" });
  out = switchTo(c, backslash("unitWithBackslashModified", "X-Test=test\n"));
  assertOnly(out, { stop: "escaped\\x2ddash.service", start: "escaped\\x2ddash.service" });

  const dash = (name: string, extra: string): GenerationSpec => ({ name, units: { "-.service": `[Unit]\n[Service]\nExecStart=/bin/true\nRemainAfterExit=true\nType=oneshot\n${extra}` }, wantedBy: { "-.service": ["multi-user.target"] } });
  out = switchTo(c, dash("unitStartingWithDash", ""));
  assertOnly(out, { stop: "escaped\\x2ddash.service", new: "-.service" });
  out = switchTo(c, dash("unitStartingWithDashModified", "ExecReload=/bin/true\nX-ReloadIfChanged=true\n"));
  assertOnly(out, { reload: "-.service" });

  const req = (name: string, requiredExtra: string, testUnitExtra: string): GenerationSpec => ({
    name,
    units: {
      "required-service.service": SIMPLE + requiredExtra,
      "test-service.service": `[Unit]\nRequires=required-service.service\n${testUnitExtra}[Service]\nExecReload=/bin/true\nExecStart=/bin/true\nRemainAfterExit=true\nType=oneshot\n`,
    },
    wantedBy: { "required-service.service": ["multi-user.target"], "test-service.service": ["multi-user.target"] },
  });
  out = switchTo(c, req("unitWithRequirement", "", ""));
  assertOnly(out, { stop: "-.service", new: "required-service.service, test-service.service" });
  out = switchTo(c, req("unitWithRequirementModified", "X-Test=test\n", "X-Reload-Triggers=test\n"));
  assertOnly(out, { stop: "required-service.service", start: "required-service.service, test-service.service" });
  out = switchTo(c, req("unitWithRequirementModifiedNostart", "", "RefuseManualStart=true\n"));
  assertOnly(out, { stop: "required-service.service", start: "required-service.service" });

  const tmpl = (name: string, extra: string): GenerationSpec => ({
    name,
    units: {
      "instantiated@.service": SIMPLE + extra,
      "multi-user.target.wants/instantiated@one.service": { symlink: "../instantiated@.service" },
      "multi-user.target.wants/instantiated@two.service": { symlink: "../instantiated@.service" },
    },
  });
  switchTo(c, tmpl("unitWithTemplate", ""));
  out = switchTo(c, tmpl("unitWithTemplateModified", "X-Test=test\n"));
  assertContains(out, "stopping the following units: instantiated@one.service, instantiated@two.service\n");
  assertContains(out, "\nstarting the following units: instantiated@one.service, instantiated@two.service\n");
});

test("failing units: auto-restart", () => {
  const auto = (name: string, exec: string): GenerationSpec => ({
    name,
    units: { "autorestart.service": `[Unit]\n[Service]\nExecStart=${exec}\nRestart=always\nRestartSec=20y\nType=simple\n` },
    wantedBy: { "autorestart.service": ["multi-user.target"] },
  });
  switchTo(c, { name: "base" });
  // A unit in auto-restart without having failed is not failed
  let out = switchTo(c, auto("autorestartService", "/bin/true"));
  assertOnly(out, { new: "autorestart.service" });
  c.must("systemctl stop autorestart.service");
  out = switchTo(c, auto("autorestartService", "/bin/true"));
  assertOnly(out, { new: "autorestart.service" });
  c.must("systemctl stop autorestart.service");
  // One that failed and waits to restart is reported failed
  out = switchTo(c, auto("autorestartServiceFailing", "/bin/false"), "test", true);
  assertOnly(out, {});
  assertContains(out, "warning: the following units failed: autorestart.service\n");
  assertContains(out, "Main PID:");
  c.must("systemctl stop autorestart.service");
  // Stopped by hand and gone from the generation: the switch away neither stops nor reports it.
  out = switchTo(c, { name: "base" });
  assertOnly(out, {});
  assertLacks(out, "autorestart.service");
});

test.run();
