/**
 * switch-test.nix, ported (part 4): "restart and reload by activation script", including the
 * template instances defined as drop-ins (NixOS's overrideStrategy = "asDropin"), and the dry run.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec, UnitEntry } from "../harness/generation.ts";
import { assertContains, assertLacks, bootSwitchMachine, switchTo } from "./switch-helpers.ts";

let c: Container;

test.before(async () => {
  ({ c } = await bootSwitchMachine("actreq"));
});
test.after(async () => {
  await c?.halt();
});

/** Nix's builtins.sort lessThan joined as NixOS's test does. */
const sortedUnits = (xs: string[]) => [...xs].sort().join(", ");

const SIMPLE = "[Unit]\n[Service]\nExecReload=/bin/true\nExecStart=/bin/true\nRemainAfterExit=true\nType=oneshot\n";
const withService = (extra: string) => SIMPLE + extra;

const RESTART_REQUESTS = [
  "simple-service.service", "simple-restart-service.service", "simple-reload-service.service", "no-restart-service.service",
  "reload-triggers-and-restart-by-as.service", "templated-simple-service@instance.service", "templated-simple-restart-service@instance.service",
  "templated-simple-reload-service@instance.service", "templated-no-restart-service@instance.service", "templated-reload-triggers-and-restart-by-as@instance.service",
];
const RELOAD_REQUESTS = [
  "reload-triggers.service", "reload-triggers-and-restart-by-as.service", "reload-triggers-and-restart.service",
  "templated-reload-triggers@instance.service", "templated-reload-triggers-and-restart-by-as@instance.service", "templated-reload-triggers-and-restart@instance.service",
];

function gen(name: string, modified: boolean): GenerationSpec {
  const units: Record<string, UnitEntry> = {};
  const plain = (n: string, text: string, instanceDropin = "[Unit]\n") => {
    units[`${n}.service`] = text;
    units[`templated-${n}@.service`] = text;
    units[`templated-${n}@instance.service.d/overrides.conf`] = instanceDropin;
  };
  plain("simple-service", SIMPLE);
  plain("simple-restart-service", withService("X-StopIfChanged=false\n"));
  plain("simple-reload-service", withService("X-ReloadIfChanged=true\n"));
  plain("no-restart-service", withService("X-RestartIfChanged=false\n"));
  plain("reload-triggers", SIMPLE);
  plain("reload-triggers-and-restart-by-as", SIMPLE);
  units["reload-triggers-and-restart.service"] = withService(`X-StopIfChanged=false\n${modified ? "X-Modified=test\n" : ""}`);
  units["templated-reload-triggers-and-restart@.service"] = SIMPLE;
  units["templated-reload-triggers-and-restart@instance.service.d/overrides.conf"] = `[Service]\nX-StopIfChanged=false\n${modified ? "X-Modified=test\n" : ""}`;
  for (const u of ["reload-triggers", "reload-triggers-and-restart"]) {
    units[`multi-user.target.wants/${u}.service`] = { symlink: `../${u}.service` };
    units[`multi-user.target.wants/templated-${u}@instance.service`] = { symlink: `../templated-${u}@.service` };
  }
  return {
    name, units,
    activationRestartList: RESTART_REQUESTS, activationReloadList: RELOAD_REQUESTS,
    dryActivationRestartList: RESTART_REQUESTS, dryActivationReloadList: RELOAD_REQUESTS,
  };
}

test("restart and reload by activation script", () => {
  switchTo(c, { name: "simpleServiceNorestart", units: { "test.service": withService("X-RestartIfChanged=false\n") }, wantedBy: { "test.service": ["multi-user.target"] } });
  let out = switchTo(c, gen("restart-and-reload-by-activation-script", false));
  assertContains(out, "stopping the following units: test.service\n");
  assertLacks(out, "NOT restarting the following changed units:");
  assertLacks(out, "reloading the following units:");
  assertLacks(out, "\nrestarting the following units:");
  assertContains(out, `\nstarting the following units: ${sortedUnits([
    "no-restart-service.service", "reload-triggers-and-restart-by-as.service", "simple-reload-service.service", "simple-restart-service.service",
    "simple-service.service", "templated-no-restart-service@instance.service", "templated-reload-triggers-and-restart-by-as@instance.service",
    "templated-simple-reload-service@instance.service", "templated-simple-restart-service@instance.service", "templated-simple-service@instance.service",
  ])}\n`);
  assertContains(out, `the following new units were started: ${sortedUnits([
    "no-restart-service.service", "reload-triggers-and-restart-by-as.service", "reload-triggers-and-restart.service", "reload-triggers.service",
    "simple-reload-service.service", "simple-restart-service.service", "simple-service.service",
    "system-templated\\x2dno\\x2drestart\\x2dservice.slice", "system-templated\\x2dreload\\x2dtriggers.slice",
    "system-templated\\x2dreload\\x2dtriggers\\x2dand\\x2drestart.slice", "system-templated\\x2dreload\\x2dtriggers\\x2dand\\x2drestart\\x2dby\\x2das.slice",
    "system-templated\\x2dsimple\\x2dreload\\x2dservice.slice", "system-templated\\x2dsimple\\x2drestart\\x2dservice.slice", "system-templated\\x2dsimple\\x2dservice.slice",
    "templated-no-restart-service@instance.service", "templated-reload-triggers-and-restart-by-as@instance.service", "templated-reload-triggers-and-restart@instance.service",
    "templated-reload-triggers@instance.service", "templated-simple-reload-service@instance.service", "templated-simple-restart-service@instance.service",
    "templated-simple-service@instance.service",
  ])}\n`);
  assertContains(out, "WARN: restarting or reloading systemd units from the activation script is deprecated and will be removed in NixOS 26.11.");

  // The same system again: the requests restart and reload
  out = switchTo(c, gen("restart-and-reload-by-activation-script", false));
  assertLacks(out, "stopping the following units:");
  assertLacks(out, "NOT restarting the following changed units:");
  assertContains(out, `reloading the following units: ${sortedUnits([
    "reload-triggers-and-restart.service", "reload-triggers.service", "simple-reload-service.service",
    "templated-reload-triggers-and-restart@instance.service", "templated-reload-triggers@instance.service", "templated-simple-reload-service@instance.service",
  ])}\n`);
  assertContains(out, `restarting the following units: ${sortedUnits([
    "reload-triggers-and-restart-by-as.service", "simple-restart-service.service", "simple-service.service",
    "templated-reload-triggers-and-restart-by-as@instance.service", "templated-simple-restart-service@instance.service", "templated-simple-service@instance.service",
  ])}\n`);
  assertLacks(out, "\nstarting the following units:");
  assertLacks(out, "the following new units were started:");

  // Modified: restarted although the activation script asks for a reload
  const expectReload = sortedUnits(["reload-triggers.service", "simple-reload-service.service", "templated-reload-triggers@instance.service", "templated-simple-reload-service@instance.service"]);
  const expectRestart = sortedUnits([
    "reload-triggers-and-restart-by-as.service", "reload-triggers-and-restart.service", "simple-restart-service.service", "simple-service.service",
    "templated-reload-triggers-and-restart-by-as@instance.service", "templated-reload-triggers-and-restart@instance.service",
    "templated-simple-restart-service@instance.service", "templated-simple-service@instance.service",
  ]);
  out = switchTo(c, gen("restart-and-reload-by-activation-script-modified", true));
  assertLacks(out, "stopping the following units:");
  assertLacks(out, "NOT restarting the following changed units:");
  assertContains(out, `reloading the following units: ${expectReload}\n`);
  assertContains(out, `restarting the following units: ${expectRestart}\n`);
  assertLacks(out, "\nstarting the following units:");
  assertLacks(out, "the following new units were started:");

  // The same, in dry mode
  out = switchTo(c, gen("restart-and-reload-by-activation-script", false), "dry-activate");
  assertContains(out, `would reload the following units: ${expectReload}\n`);
  assertContains(out, `would restart the following units: ${expectRestart}\n`);
  for (const l of ["dry-activation-restart-list", "dry-activation-reload-list", "reload-list", "restart-list", "start-list"]) {
    assert.is(c.sh(`test -e /run/nixos/${l}`).status, 1, `${l} not left behind`);
  }
});

test.run();
