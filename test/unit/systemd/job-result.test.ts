import { test } from "uvu";
import * as assert from "uvu/assert";
import { describeJobResult, isKnownJobResult, JOB_METHOD, JOB_RESULTS, jobSucceeded } from "../../../src/systemd/job-result.ts";

test("done and skipped are successes; every other documented result is a failure", () => {
  assert.ok(jobSucceeded("done"));
  assert.ok(jobSucceeded("skipped"));
  for (const r of JOB_RESULTS.filter((r) => r !== "done" && r !== "skipped")) assert.not.ok(jobSucceeded(r), r);
});

test("a result unknown to this version is kept and counts as a failure", () => {
  assert.not.ok(isKnownJobResult("exploded"));
  assert.not.ok(jobSucceeded("exploded"));
  assert.match(describeJobResult("start", "a.service", "exploded"), /start a\.service: exploded/);
});

test("descriptions name the unit and the result", () => {
  assert.is(describeJobResult("start", "a.service", "done"), "start a.service: done");
  assert.match(describeJobResult("stop", "b.service", "failed"), /^stop b\.service: failed/);
  assert.match(describeJobResult("restart", "c.service", "dependency"), /dependency failed/);
  assert.match(describeJobResult("reload", "d.service", "canceled"), /canceled/);
});

test("job types map to the Manager's methods", () => {
  assert.equal(JOB_METHOD, {
    start: "StartUnit", stop: "StopUnit", restart: "RestartUnit", reload: "ReloadUnit",
    "try-restart": "TryRestartUnit", "reload-or-restart": "ReloadOrRestartUnit",
  });
});

test.run();
