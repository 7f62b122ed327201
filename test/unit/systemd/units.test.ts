import { test } from "uvu";
import * as assert from "uvu/assert";
import { isServiceUnit, parseUnitList, toNumber, unitPropertiesFrom } from "../../../src/systemd/units.ts";

test("ListUnits rows become named records, job ids as numbers", () => {
  const rows = [["a.service", "A", "loaded", "active", "running", "", "/org/freedesktop/systemd1/unit/a_2eservice", 7, "start", "/org/freedesktop/systemd1/job/7"]];
  assert.equal(parseUnitList(rows), [{
    name: "a.service", description: "A", loadState: "loaded", activeState: "active", subState: "running", following: "",
    path: "/org/freedesktop/systemd1/unit/a_2eservice", jobId: 7, jobType: "start", jobPath: "/org/freedesktop/systemd1/job/7",
  }]);
});

test("a malformed reply is an error, not an empty list", () => {
  assert.throws(() => parseUnitList("nope"), /not an array/);
});

test("64-bit values (bigint on the wire) become numbers", () => {
  assert.is(toNumber(1795326695231171n), 1795326695231171);
  assert.is(toNumber(3), 3);
  assert.is(toNumber(undefined), 0);
});

test("unit properties: service fields only for services", () => {
  const unit = { Id: "a.service", Description: "A", LoadState: "loaded", ActiveState: "failed", SubState: "failed",
    FragmentPath: "/etc/systemd/system/a.service", DropInPaths: ["/etc/systemd/system/a.service.d/x.conf"], ActiveEnterTimestamp: 5n };
  const p = unitPropertiesFrom(unit, { MainPID: 0, ExecMainStatus: 1, NRestarts: 2, Result: "exit-code" });
  assert.equal(p, { id: "a.service", description: "A", loadState: "loaded", activeState: "failed", subState: "failed",
    fragmentPath: "/etc/systemd/system/a.service", dropInPaths: ["/etc/systemd/system/a.service.d/x.conf"], activeEnterTimestamp: 5,
    mainPID: 0, execMainStatus: 1, nRestarts: 2, result: "exit-code" });
  const t = unitPropertiesFrom({ ...unit, Id: "b.target" });
  assert.is(t.mainPID, undefined);
  assert.ok(isServiceUnit("x.service"));
  assert.not.ok(isServiceUnit("x.socket"));
});

test.run();
