/**
 * `switch-to-configuration ACTION --json` from the built binary, for the exits that need no machine
 * (a full switch's document is validated in test/system/switch-basic.test.ts), against
 * docs/schemas/switch-summary.schema.json.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { assertInvalid, assertValid, lastLineDocument, mutated, stagehand } from "./validate.ts";

type Summary = Record<string, any>;

/** The switch with only PATH set: it stops at the first missing variable ($OUT), before any effect. */
function earlyExit(action: string, ids: { uid?: number; gid?: number } = {}): Summary {
  const r = stagehand(["switch-to-configuration", action, "--json"], { PATH: process.env.PATH ?? "/usr/bin:/bin" }, { ...ids, onlyEnv: true });
  const doc = lastLineDocument(r.stdout, `switch-to-configuration ${action} --json`) as Summary;
  assert.is(doc.exitCode, r.status, "exitCode is the exit status");
  return doc;
}

let early: Summary;

test("an early exit (no $OUT) prints a summary matching the schema, for every action", () => {
  for (const action of ["switch", "boot", "test", "dry-activate", "check"]) {
    early = earlyExit(action);
    assertValid("switch-summary", early, `${action} --json (early exit)`);
    assert.is(early.action, action);
    assert.is(early.activation, "not-run");
    assert.is(early.exitCode, 1);
  }
});

test("not root: the refusal's summary matches the schema", () => {
  // As root, run it as nobody; unprivileged (a Nix build's checkPhase) it is not root already.
  const doc = earlyExit("test", process.geteuid?.() === 0 ? { uid: 65534, gid: 65534 } : {});
  assertValid("switch-summary", doc, "test --json as nobody");
  assert.is(doc.exitCode, 1);
});

test("negative: wrong types, unknown enums, an unknown field, a missing field", () => {
  assertInvalid("switch-summary", mutated(early, (d) => { d.exitCode = "1"; }), "exitCode as a string");
  assertInvalid("switch-summary", mutated(early, (d) => { d.exitCode = 1.5; }), "a fractional exitCode");
  assertInvalid("switch-summary", mutated(early, (d) => { d.activation = "skipped"; }), "an unknown activation state");
  assertInvalid("switch-summary", mutated(early, (d) => { d.action = "reboot"; }), "an unknown action");
  assertInvalid("switch-summary", mutated(early, (d) => { d.stopped = "a.service"; }), "a list as a string");
  assertInvalid("switch-summary", mutated(early, (d) => { d.stopped = ["a.service", "a.service"]; }), "a unit twice");
  assertInvalid("switch-summary", mutated(early, (d) => { d.failedJobs = [{ unit: "a.service", job: "start", result: "done" }]; }), "a successful job among failed ones");
  assertInvalid("switch-summary", mutated(early, (d) => { d.phases = [{ phase: "start", durationMs: 1.5 }]; }), "fractional milliseconds");
  assertInvalid("switch-summary", mutated(early, (d) => { d.phases = [{ phase: "warp", durationMs: 1 }]; }), "an unknown phase");
  assertInvalid("switch-summary", mutated(early, (d) => { d.users = [{ name: "alice" }]; }), "a user without exitCode");
  assertValid("switch-summary", mutated(early, (d) => { d.settle = { services: [{ unit: "a.service", settledBy: "waiting-for-events" }, { unit: "b.service", settledBy: "grace" }] }; }), "a settle");
  assertInvalid("switch-summary", mutated(early, (d) => { d.settle = { services: [{ unit: "a.service", settledBy: "quiet" }] }; }), "an unknown way a wait ended");
  assertInvalid("switch-summary", mutated(early, (d) => { d.settle = {}; }), "a settle without services");
  assertInvalid("switch-summary", mutated(early, (d) => { d.extra = true; }), "an unknown field");
  assertInvalid("switch-summary", mutated(early, (d) => { delete d.durationMs; }), "a missing field");
});

test.run();
