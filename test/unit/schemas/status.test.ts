/**
 * `stagehand status --json`, run by the built binary on a run directory the switch's own writers
 * filled (restart debt, an interrupted switch's list files), against docs/schemas/status.schema.json;
 * the debt file itself against docs/schemas/restart-debt.schema.json.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { DEBT_FILE, saveDebt, updateDebt } from "../../../src/switch/state/debt.ts";
import { appendToList, LIST_NAMES } from "../../../src/switch/state/lists.ts";
import { tempDir } from "../tmp.ts";
import { assertInvalid, assertValid, mutated, stagehand, wholeDocument } from "./validate.ts";

/** No system bus: status keeps every entry instead of asking systemd which units restarted. */
const NO_BUS = { DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/nonexistent/stagehand-test-bus" };

function status(dir: string): Record<string, any> {
  const r = stagehand(["status", "--json", "--run-dir", dir], NO_BUS);
  assert.is(r.status, 0, r.stderr);
  return wholeDocument(r, "status --json") as Record<string, any>;
}

let full: Record<string, any>;
let debtFile: Record<string, any>;

test("debt with and without InvocationIDs, and pending lists, match the schemas", () => {
  const dir = tempDir("schema-status-");
  const debt = updateDebt([], {
    toplevel: "/nix/store/aaaa-nixos-system-a", now: new Date(),
    skipped: new Map([["keep.service", "[Service] X-RestartIfChanged=false"], ["nix.mount", "/ and /nix are remounted, never unmounted"]]),
    settled: [], invocationIds: new Map([["keep.service", "0123456789abcdef0123456789abcdef"]]),
  });
  saveDebt(dir, debt);
  appendToList(join(dir, LIST_NAMES.start), ["a.service", "b.service"]);
  appendToList(join(dir, LIST_NAMES.reload), ["c.service"]);
  debtFile = JSON.parse(readFileSync(join(dir, DEBT_FILE), "utf8"));
  assertValid("restart-debt", debtFile, DEBT_FILE);
  full = status(dir);
  assertValid("status", full);
  assert.is(full.debt.length, 2);
  assert.equal(full.pending["start-list"], ["a.service", "b.service"]);
  assert.equal(full.pending["restart-list"], []);
});

test("an empty run directory matches the schema", () => {
  const doc = status(tempDir("schema-status-"));
  assertValid("status", doc);
  assert.equal(doc.debt, []);
});

test("an unreadable debt file or list is named on stderr, and --json stays a valid document", () => {
  const dir = tempDir("schema-status-");
  writeFileSync(join(dir, DEBT_FILE), "{half");
  assert.is(spawnSync("mkfifo", [join(dir, LIST_NAMES.start)]).status, 0);
  const r = stagehand(["status", "--json", "--run-dir", dir], NO_BUS);
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim().split("\n"), [
    `warning: restart debt: ${join(dir, DEBT_FILE)}: invalid JSON; read as no debt`,
    `warning: switch list file: ${join(dir, LIST_NAMES.start)}: is a FIFO, not a regular file; read as empty`,
  ]);
  const doc = wholeDocument(r, "status --json") as Record<string, any>;
  assertValid("status", doc);
  assert.equal([doc.debt, doc.pending["start-list"]], [[], []]);
});

test("negative: wrong types, a malformed time or InvocationID, an unknown list", () => {
  assertInvalid("status", mutated(full, (d) => { d.debt[0].sinceTime = 1700000000; }), "a numeric sinceTime");
  assertInvalid("status", mutated(full, (d) => { d.debt[0].sinceTime = "yesterday"; }), "sinceTime not ISO 8601");
  assertInvalid("status", mutated(full, (d) => { d.debt.find((e: { invocationId?: string }) => e.invocationId).invocationId = "xyz"; }), "a malformed InvocationID");
  assertInvalid("status", mutated(full, (d) => { d.pending["start-list"] = "a.service"; }), "a list as a string");
  assertInvalid("status", mutated(full, (d) => { d.pending["other-list"] = []; }), "an unknown list");
  assertInvalid("status", mutated(full, (d) => { delete d.pending["reload-list"]; }), "a missing list");
  assertInvalid("restart-debt", mutated(debtFile, (d) => { d.version = 2; }), "version 2");
  assertInvalid("restart-debt", mutated(debtFile, (d) => { d.bootId = null; }), "a null bootId");
});

test.run();
