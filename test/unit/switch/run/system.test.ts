/**
 * A whole system switch (run/system.ts) against a temporary root and the fake service manager: the
 * contract checks, the plan made from the root's unit directory and the new generation's, and the
 * executor's phases, with no machine.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { machine, switchTo, write } from "./machine.ts";

test("a switch under a root: the changed unit is stopped and started around the activation, users switched, exit 0", async () => {
  const m = machine();
  const r = await switchTo(m, "test");
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.equal(r.lines, [
    "stopping the following units: a.service",
    "activating the configuration...",
    `activating ${m.toplevel}`,
    "restarting sysinit-reactivation.target",
    "starting the following units: a.service",
  ]);
  assert.equal(r.events.filter((e) => e.startsWith("submit")), ["submit stop a.service", "submit restart sysinit-reactivation.target", "submit start a.service"]);
  assert.equal(r.users, [`test ${m.toplevel}`]);
  assert.equal([r.connected, r.closed], [1, 1], "one connection, closed at the end");
  assert.equal(r.summary.started, ["a.service"]);
});

test("dry-activate prints the plan and submits no job", async () => {
  const m = machine();
  write(join(m.toplevel, "dry-activate"), "#!/bin/sh\necho dry\n", 0o755);
  const r = await switchTo(m, "dry-activate");
  assert.is(r.status, 0);
  assert.ok(r.lines.includes("would stop the following units: a.service"), r.lines.join("\n"));
  assert.ok(r.lines.includes("would activate the configuration..."));
  assert.equal(r.events.filter((e) => e.startsWith("submit")), []);
});

test("check stops before connecting; a root that is not NixOS is refused with ng's status", async () => {
  const r = await switchTo(machine(), "check");
  assert.equal([r.status, r.connected], [0, 0]);
  try {
    await switchTo(machine(false), "test");
    assert.unreachable("not NixOS");
  } catch (e) {
    assert.instance(e, SwitchExit);
    assert.is((e as SwitchExit).code, 2);
  }
});

test("a job that fails makes the switch exit 4, and the connection is still closed", async () => {
  const m = machine();
  const r = await switchTo(m, "test", { results: { "start a.service": "failed" } });
  assert.is(r.status, 4);
  assert.ok(r.lines.includes("Failed to start a.service"), r.lines.join("\n"));
  assert.is(r.closed, 1);
});

test.run();
