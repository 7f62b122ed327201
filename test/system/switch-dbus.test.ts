/**
 * switch-test.nix, ported: "dbus reloads". NixOS's dbus module marks dbus.service
 * reloadIfChanged (X-ReloadIfChanged=true); every generation here carries Debian's dbus.service
 * with that line, and an extra ExecReload appending to /run/dbus-reloads so the reload is
 * observable. dbusReload adds a restart trigger, which must reload, not restart, the bus.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertOnly, bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";
import { upstreamUnit } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("dbus"));
});
test.after(async () => {
  await c?.halt();
});

function dbusGen(name: string, restartTrigger?: string): GenerationSpec {
  // "+": trixie's dbus.service runs as User=messagebus (bookworm's as root), which may not write
  // /run; the probe runs privileged on both.
  let unit = upstreamUnit(c, "dbus.service")
    .replace("[Service]\n", "[Service]\nX-ReloadIfChanged=true\nExecReload=+/bin/sh -c 'echo reload >> /run/dbus-reloads'\n");
  if (restartTrigger) unit = unit.replace("[Unit]\n", `[Unit]\nX-Restart-Triggers=${restartTrigger}\n`);
  return { name, units: { "dbus.service": unit } };
}

test("dbus reloads", () => {
  switchTo(c, dbusGen("nixosDbus")); // NixOS's dbus.service (the base of every NixOS generation)
  const pid = show(c, "dbus.service", ["MainPID"]).MainPID;
  c.sh("rm -f /run/dbus-reloads");
  let out = switchTo(c, dbusGen("nixosDbus"));
  assertOnly(out, {});
  out = switchTo(c, dbusGen("dbusReload", "/nix/store/00000000000000000000000000000000-dbus-reload-dummy"));
  assertOnly(out, { reload: "dbus.service" });
  assert.is(show(c, "dbus.service", ["MainPID"]).MainPID, pid, "the bus was not restarted");
  assert.is(c.sh("cat /run/dbus-reloads").stdout, "reload\n", "ExecReload ran");
  assert.is(c.sh("systemctl is-active dbus.service").stdout.trim(), "active");
});

test.run();
