/** `stagehand plan OLD NEW --json`, run by the built binary on fixture generations, against docs/schemas/unit-plan.schema.json. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generation, simpleService, unit, type Fixture } from "../switch/helpers.ts";
import { tempDir } from "../tmp.ts";
import { assertInvalid, assertValid, mutated, stagehand, wholeDocument } from "./validate.ts";

const OLD: Record<string, Fixture> = {
  "removed.service": simpleService(),
  "norestart.service": simpleService({ "X-RestartIfChanged": "false" }),
  "reloadme.service": simpleService({ "X-ReloadIfChanged": "true" }),
  "nostop.service": simpleService({ "X-StopIfChanged": "false" }),
  "changed.service": simpleService(),
  "app.target": unit({ Unit: { Description: "an active target" } }),
  "masked.service": simpleService(),
};
const NEW: Record<string, Fixture> = {
  "norestart.service": simpleService({ "X-RestartIfChanged": "false", Environment: "V=2" }),
  "reloadme.service": simpleService({ "X-ReloadIfChanged": "true", Environment: "V=2" }),
  "nostop.service": simpleService({ "X-StopIfChanged": "false", Environment: "V=2" }),
  "changed.service": simpleService({ Environment: "V=2" }),
  "app.target": unit({ Unit: { Description: "an active target" } }),
  "masked.service": null,
  "added.service": simpleService(),
};
const SWAP = "/swapfile none swap defaults 0 0\n";
const MOUNT = (opts: string) => `/dev/disk/by-label/data /data ext4 ${opts} 0 2\n`;

/** Two generations differing in every way the planner distinguishes, with system.conf in both (a re-exec). */
function generations(systemConf: boolean): [string, string] {
  const oldTop = generation(OLD, SWAP + MOUNT("defaults"));
  const newTop = generation(NEW, MOUNT("noatime"));
  if (systemConf) for (const t of [oldTop, newTop]) writeFileSync(join(t, "etc/systemd/system.conf"), `[Manager]\n# ${t}\n`);
  return [oldTop, newTop];
}

function planJson(args: string[]): Record<string, unknown> {
  const r = stagehand(["plan", ...args, "--json"]);
  assert.is(r.status, 0, r.stderr);
  return wholeDocument(r, "plan OLD NEW --json") as Record<string, unknown>;
}

let full: Record<string, unknown>;

test("every kind of decision (stop, skip, reload, restart, start, hidden, swaps, re-exec) matches the schema", () => {
  const [oldTop, newTop] = generations(true);
  full = planJson([oldTop, newTop]);
  assertValid("unit-plan", full);
  // The fixture really exercises each part of the schema.
  const units = (k: string) => (full[k] as { unit: string }[]).map((e) => e.unit);
  assert.ok(units("stop").includes("removed.service"), JSON.stringify(full));
  assert.ok(units("skip").includes("norestart.service"));
  assert.ok(units("reload").includes("reloadme.service"));
  assert.ok(units("restart").includes("nostop.service"));
  assert.ok(units("start").includes("changed.service"));
  assert.ok((full.start as { hidden?: boolean }[]).some((e) => e.hidden === true), "a hidden start");
  assert.equal((full.swapsToStop as { device: string }[]).map((s) => s.device), ["/swapfile"]);
  assert.is(full.restartSystemd, true);
  assert.type(full.restartSystemdReason, "string");
});

test("without a re-exec there is no restartSystemdReason; with --active (object and list forms)", () => {
  const [oldTop, newTop] = generations(false);
  const noReexec = planJson([oldTop, newTop]);
  assertValid("unit-plan", noReexec);
  assert.is(noReexec.restartSystemd, false);
  assert.not.ok("restartSystemdReason" in noReexec);

  const dir = tempDir("schema-active-");
  const states = { "changed.service": { activeState: "active", subState: "running", fragmentPath: join(oldTop, "etc/systemd/system/changed.service") }, "norestart.service": { activeState: "active", subState: "exited" } };
  writeFileSync(join(dir, "object.json"), JSON.stringify(states));
  writeFileSync(join(dir, "list.json"), JSON.stringify(Object.entries(states).map(([name, s]) => ({ name, ...s }))));
  for (const f of ["object.json", "list.json"]) assertValid("unit-plan", planJson(["--active", join(dir, f), oldTop, newTop]), `plan --active ${f}`);
});

test("identical and empty generations: empty lists match the schema", () => {
  const empty = generation({});
  mkdirSync(join(empty, "etc/systemd/system"), { recursive: true });
  assertValid("unit-plan", planJson([empty, empty]));
});

test("negative: wrong types, unknown fields, a reason-less re-exec and a false hidden are refused", () => {
  assertInvalid("unit-plan", mutated(full, (d) => { d.version = "1"; }), "version as a string");
  assertInvalid("unit-plan", mutated(full, (d) => { d.restartSystemd = "yes"; }), "restartSystemd as a string");
  assertInvalid("unit-plan", mutated(full, (d) => { d.stop[0].unit = 7; }), "a numeric unit");
  assertInvalid("unit-plan", mutated(full, (d) => { d.skip[0].hidden = true; }), "hidden on a skipped unit");
  assertInvalid("unit-plan", mutated(full, (d) => { d.start.find((e: { hidden?: boolean }) => e.hidden).hidden = false; }), "hidden: false");
  assertInvalid("unit-plan", mutated(full, (d) => { delete d.restartSystemdReason; }), "a re-exec without a reason");
  assertInvalid("unit-plan", mutated(full, (d) => { d.restartSystemd = false; }), "a reason without a re-exec");
  assertInvalid("unit-plan", mutated(full, (d) => { d.extra = 1; }), "an unknown top-level field");
  assertInvalid("unit-plan", mutated(full, (d) => { delete d.assumptions; }), "a missing field");
});

test.run();
