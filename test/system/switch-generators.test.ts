/**
 * switch-test.nix, ported: "generators". The generation ships
 * /etc/systemd/system-generators/simple-generator (NixOS: systemd.generators), which writes
 * simple-generated.service into the normal generator directory; switching away (the activate
 * script removes the generator link, as NixOS's /etc setup does) must leave the running
 * generated unit alone.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { bootSwitchMachine, show, switchTo } from "./switch-helpers.ts";
import { build, switchBuilt } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("generators"));
});
test.after(async () => {
  await c?.halt();
});

const GENERATOR = "#!/bin/sh\ncat >\"$1/simple-generated.service\" <<EOF\n[Service]\nExecStart=/bin/sleep infinity\nEOF\n";

test("generators", () => {
  const gen = build(c, { name: "generators", etc: { "systemd/system-generators/simple-generator": GENERATOR } });
  chmodSync(join(c.root, gen.etc, "systemd/system-generators/simple-generator"), 0o555); // a store script is executable
  switchBuilt(c, gen);
  // The service is not started by anything, so we start it manually
  c.must("systemctl start simple-generated.service && systemctl is-active simple-generated.service");
  const pid = show(c, "simple-generated.service", ["MainPID"]).MainPID;
  switchTo(c, { name: "base", activate: "rm -f /etc/systemd/system-generators/simple-generator" });
  assert.is(c.sh("test -e /run/systemd/generator/simple-generated.service").status, 1, "the generator is gone");
  // Assert switching to a different generation doesn't touch units created by generators
  c.must("systemctl is-active simple-generated.service");
  assert.is(show(c, "simple-generated.service", ["MainPID"]).MainPID, pid, "not restarted");
});

test.run();
