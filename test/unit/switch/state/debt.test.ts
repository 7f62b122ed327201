import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { DEBT_FILE, loadDebt, pruneDebt, saveDebt, updateDebt, type DebtEntry } from "../../../../src/switch/state/debt.ts";
import { formatStatus } from "../../../../src/switch/state/status.ts";
import { tempDir } from "../../tmp.ts";

const now = new Date("2026-01-02T03:04:05Z");

test("skipped units become debt; settled ones leave; the first switch that left a unit behind is kept", () => {
  let d = updateDebt([], { toplevel: "/gen1", now, skipped: new Map([["a.service", "X-RestartIfChanged=false"]]), settled: [], invocationIds: new Map([["a.service", "aa"]]) });
  assert.equal(d, [{ unit: "a.service", reason: "X-RestartIfChanged=false", since: "/gen1", sinceTime: now.toISOString(), invocationId: "aa" }]);
  d = updateDebt(d, { toplevel: "/gen2", now: new Date(), skipped: new Map([["a.service", "other"], ["b.mount", "device changed"]]), settled: [] });
  assert.is(d.find((e) => e.unit === "a.service")!.since, "/gen1");
  d = updateDebt(d, { toplevel: "/gen3", now, skipped: new Map(), settled: ["a.service"] });
  assert.equal(d.map((e) => e.unit), ["b.mount"]);
});

test("stored per boot: another boot's debt is gone; a corrupt file reads as none", () => {
  const dir = tempDir("stc-debt-");
  const e: DebtEntry[] = [{ unit: "a.service", reason: "r", since: "/g", sinceTime: now.toISOString() }];
  saveDebt(dir, e, "boot-1");
  assert.equal(loadDebt(dir, "boot-1"), e);
  assert.equal(loadDebt(dir, "boot-2"), []);
  const warned: string[] = [];
  assert.equal(loadDebt(dir, "boot-2", (l) => warned.push(l)), []);
  assert.equal(warned, [], "another boot's debt is no news");
  writeFileSync(join(dir, DEBT_FILE), "{not json");
  assert.equal(loadDebt(dir, "boot-1"), []);
  // `status` says why it shows no debt, naming the file.
  assert.equal(loadDebt(dir, "boot-1", (l) => warned.push(l)), []);
  writeFileSync(join(dir, DEBT_FILE), '{"version":2,"entries":[]}');
  assert.equal(loadDebt(dir, "boot-1", (l) => warned.push(l)), []);
  assert.equal(warned, [
    `warning: restart debt: ${join(dir, DEBT_FILE)}: invalid JSON; read as no debt`,
    `warning: restart debt: ${join(dir, DEBT_FILE)}: not a restart debt file of version 1; read as no debt`,
  ]);
  assert.equal(loadDebt(tempDir("stc-debt-"), "boot-1", (l) => warned.push(l)), []);
  assert.is(warned.length, 2, "a missing file is no debt, silently");
});

test("a stored entry not as saveDebt writes it is dropped: no forged status line, no schema-breaking --json, not saved again", () => {
  const dir = tempDir("stc-debt-");
  const good = { unit: "good.service", reason: "r", since: "/g", sinceTime: now.toISOString(), invocationId: "0123456789abcdef0123456789abcdef" };
  const bad = [
    { unit: "a.service", reason: {}, since: null, sinceTime: 5 },
    { unit: "b.service", reason: "r", since: "/g", sinceTime: "not a date" },
    { unit: "c\u0000d.service", reason: "r", since: "/g", sinceTime: now.toISOString() },
    { unit: "e.service", reason: "r\n  forged.service: a line of its own", since: "/g", sinceTime: now.toISOString() },
    { unit: "f.service", reason: "r", since: "/g", sinceTime: now.toISOString(), invocationId: 7 },
    { unit: "", reason: "r", since: "/g", sinceTime: now.toISOString() },
    "g.service", null, 42,
  ];
  writeFileSync(join(dir, DEBT_FILE), JSON.stringify({ version: 1, bootId: "boot-1", entries: [...bad, { ...good, extra: "field" }] }));
  assert.equal(loadDebt(dir, "boot-1"), [good]);
  assert.equal(formatStatus({ debt: loadDebt(dir, "boot-1"), pending: {} }), ["units still running old code (restart debt):", `  good.service: r (since ${now.toISOString()}, switch to /g)`]);
});

test("pruning: a new invocation, a stopped or unloaded unit settle the debt; unknown keeps it", () => {
  const e: DebtEntry[] = [
    { unit: "same.service", reason: "r", since: "/g", sinceTime: "t", invocationId: "11" },
    { unit: "restarted.service", reason: "r", since: "/g", sinceTime: "t", invocationId: "11" },
    { unit: "stopped.service", reason: "r", since: "/g", sinceTime: "t", invocationId: "11" },
    { unit: "gone.service", reason: "r", since: "/g", sinceTime: "t" },
    { unit: "unknown.service", reason: "r", since: "/g", sinceTime: "t" },
  ];
  const ids: Record<string, string | null | undefined> = { "same.service": "11", "restarted.service": "22", "stopped.service": "", "gone.service": undefined, "unknown.service": null };
  assert.equal(pruneDebt(e, (u) => ids[u]).map((x) => x.unit), ["same.service", "unknown.service"]);
});

test("status lines", () => {
  assert.equal(formatStatus({ debt: [], pending: { "start-list": [] } }), ["no restart debt: every unit changed by a switch runs its current definition"]);
  const lines = formatStatus({ debt: [{ unit: "a.service", reason: "X-RestartIfChanged=false", since: "/nix/store/x", sinceTime: "T" }], pending: { "start-list": ["b.service", "c.service"] } });
  assert.equal(lines, [
    "units still running old code (restart debt):",
    "  a.service: X-RestartIfChanged=false (since T, switch to /nix/store/x)",
    "an interrupted switch left work to do (the next switch resumes it):",
    "  start-list: b.service, c.service",
  ]);
});

test("a FIFO or a directory where the debt file should be reads as no debt, at once", () => {
  const d = tempDir("debt-");
  assert.is(spawnSync("mkfifo", [join(d, DEBT_FILE)]).status, 0);
  assert.equal(loadDebt(d, "boot"), []);
  const e = tempDir("debt-");
  mkdirSync(join(e, DEBT_FILE));
  assert.equal(loadDebt(e, "boot"), []);
});

test("a directory at the debt file's name is moved aside when the debt is saved: the next switches record theirs", () => {
  const d = tempDir("debt-");
  mkdirSync(join(d, DEBT_FILE));
  writeFileSync(join(d, DEBT_FILE, "kept"), "x");
  const debt = updateDebt([], { toplevel: "/nix/store/a", now, skipped: new Map([["a.service", "X-OnlyManualStart"]]), settled: [] });
  saveDebt(d, debt, "boot");
  assert.equal(loadDebt(d, "boot").map((x) => x.unit), ["a.service"]);
  const aside = readdirSync(d).filter((n) => n.startsWith(`${DEBT_FILE}.broken-`));
  assert.is(aside.length, 1);
  assert.equal(readdirSync(join(d, aside[0]!)), ["kept"]);
});

test.run();
