import { test } from "uvu";
import * as assert from "uvu/assert";
import { memoryUnitDirectory } from "../../../../src/units/dir.ts";
import { emptyPlan, type ActiveUnit } from "../../../../src/switch/plan/index.ts";
import { planUserMigration, userConfigUnitDir, userDryActivateLines, userMigrationCandidates } from "../../../../src/switch/plan/user.ts";
import { simpleService } from "../helpers.ts";

const at = (fragmentPath: string): ActiveUnit => ({ activeState: "active", subState: "running", fragmentPath });

test("migration candidates: in the new generation, loaded from ~/.config or new to NixOS", () => {
  const oldDir = memoryUnitDirectory("/old", { "kept.service": simpleService(), "hm.service": simpleService() });
  const newDir = memoryUnitDirectory("/new", { "kept.service": simpleService(), "hm.service": simpleService(), "fresh.service": simpleService(), "etc.service": simpleService() });
  const active = {
    "kept.service": at("/usr/lib/systemd/user/kept.service"),
    "hm.service": at("/home/u/.config/systemd/user/hm.service"),
    "fresh.service": at("/usr/lib/systemd/user/fresh.service"),
    "etc.service": at("/etc/systemd/user/etc.service"),
    "other.service": at("/home/u/.config/systemd/user/other.service"),
  };
  assert.equal(userMigrationCandidates(active, oldDir, newDir, "/home/u/.config/systemd/user"), ["fresh.service", "hm.service"]);
});

test("the user's config unit directory comes from the manager's environment", () => {
  assert.is(userConfigUnitDir(["PATH=/bin", "HOME=/home/u/"]), "/home/u/.config/systemd/user");
  assert.is(userConfigUnitDir(["HOME=/home/u", "XDG_CONFIG_HOME=/cfg"]), "/cfg/systemd/user");
  assert.is(userConfigUnitDir(["XDG_CONFIG_HOME=rel", "HOME=/home/u"]), "/home/u/.config/systemd/user");
  assert.is(userConfigUnitDir(["HOMEX=/x", "HOME=relative"]), undefined);
  assert.is(userConfigUnitDir([]), undefined);
});

test("migration actions after reload; targets the main pass started are started again", () => {
  const newDir = memoryUnitDirectory("/new", {
    "a.service": simpleService(), "r.service": simpleService({ "X-ReloadIfChanged": "true" }),
    "n.service": simpleService({ "X-RestartIfChanged": "false" }), "s.service": simpleService(),
    "m.service": simpleService({}, { RefuseManualStart: "true" }), "e.service": simpleService(),
  });
  const after = { "a.service": at("/etc/systemd/user/a.service"), "r.service": at("/etc/systemd/user/r.service"), "n.service": at("/etc/systemd/user/n.service"), "e.service": at("/home/u/.config/systemd/user/e.service") };
  const plan = emptyPlan();
  plan.start["default.target"] = "x";
  plan.start["x.service"] = "x";
  const m = planUserMigration(["a.service", "r.service", "n.service", "s.service", "m.service", "e.service"], after, newDir, plan);
  assert.equal(Object.keys(m.restart), ["a.service"]);
  assert.equal(Object.keys(m.reload), ["r.service"]);
  assert.equal(Object.keys(m.skip).sort(), ["m.service", "n.service"]);
  assert.equal(Object.keys(m.start).sort(), ["default.target", "s.service"]);
});

test("user dry-activate lines", () => {
  const plan = emptyPlan();
  plan.stop["b.service"] = "x"; plan.stop["default.target"] = "x"; plan.hidden = ["default.target"];
  plan.skip["nixos-activation.service"] = "x";
  plan.start["default.target"] = "x"; plan.start["b.service"] = "x";
  assert.equal(userDryActivateLines(plan), ["would stop the following user units: b.service, default.target", "would start the following user units: b.service"]);
});

test.run();
