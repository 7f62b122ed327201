/**
 * The phase sequence of a switch against a recording service manager: ng's lines in ng's order,
 * jobs awaited phase by phase, list files consumed as phases complete, exit statuses.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import type { ActiveUnitState, JobReport, JobVerb, SwitchSystemd } from "../../../../src/switch/run/types.ts";
import { SwitchLists } from "../../../../src/switch/state/lists.ts";
import { memoryLog } from "../../../../src/switch/run/log.ts";
import { executePlan, persistLists, type SystemScope, type UserScope } from "../../../../src/switch/run/phases.ts";
import { emptyPlan, listsToPersist, newAndFailedUnits, planSwitch, reloadsAfterDaemonReload, sortUnits, type UnitPlan } from "../../../../src/switch/plan/index.ts";
import { memoryUnitDirectory } from "../../../../src/units/dir.ts";
import { emptySummary } from "../../../../src/switch/run/summary.ts";
import type { ActivationOutcome } from "../../../../src/switch/run/activation.ts";
import { tempDir } from "../../tmp.ts";
import { type FakeOpts, fakeSystemd } from "./fake-systemd.ts";

function plan(p: Partial<Record<"stop" | "skip" | "start" | "restart" | "reload", string[]>> & { hidden?: string[]; restartSystemd?: boolean } = {}): UnitPlan {
  const x = emptyPlan();
  for (const k of ["stop", "skip", "start", "restart", "reload"] as const) for (const u of p[k] ?? []) x[k][u] = `test ${k}`;
  x.hidden = p.hidden ?? [];
  x.restartSystemd = p.restartSystemd ?? false;
  return x;
}

/** The system scope with effects that do nothing, overridden by `over`. */
function systemScope(over: Partial<SystemScope<UnitPlan>> = {}): SystemScope<UnitPlan> {
  return {
    kind: "system",
    planner: { applyActivationRequests: (x) => x, reloadsAfterDaemonReload: (x) => ({ plan: x, startedInstead: [], dropped: [] }), newAndFailedUnits },
    before: {}, toplevel: "/top",
    activate: async () => "ok", swapoff: () => undefined, switchUsers: async () => 0, showStatus: async () => {},
    ...over,
  };
}

async function run(p: UnitPlan, o: FakeOpts & { activation?: ActivationOutcome; before?: Record<string, ActiveUnitState>; dir?: string } = {}) {
  const events: string[] = [];
  const log = memoryLog();
  const dir = o.dir ?? tempDir("stc-phases-");
  const lists = new SwitchLists(dir, false);
  persistLists(lists, listsToPersist(p));
  const summary = emptySummary("test", "/top");
  const status = await executePlan({
    plan: p, sortUnits, systemd: fakeSystemd(events, o), lists, log, summary,
    scope: systemScope({
      planner: {
        applyActivationRequests: (pl, r) => { const n = structuredClone(pl); for (const u of r.restart) n.restart[u] = "act"; for (const u of r.reload) n.reload[u] = "act"; return n; },
        reloadsAfterDaemonReload: (pl, isActive) => {
          const n = structuredClone(pl); const startedInstead: string[] = [];
          for (const u of Object.keys(pl.reload)) if (!isActive(u)) { delete n.reload[u]; n.start[u] = "was reload"; startedInstead.push(u); }
          return { plan: n, startedInstead, dropped: [] };
        },
        newAndFailedUnits,
      },
      before: o.before ?? {},
      activate: async () => { events.push("activate"); return o.activation ?? "ok"; },
      swapoff: (d) => { events.push(`swapoff ${d}`); return undefined; },
      switchUsers: async () => { events.push("users"); return 0; },
      showStatus: async (units) => { events.push(`status ${units.join(" ")}`); },
    }),
  });
  return { status, events, lines: log.lines, journal: log.journalLines, lists, summary };
}

test("ng's phase order and lines", async () => {
  const r = await run(plan({ stop: ["b.service", "A.service"], skip: ["keep.service"], reload: ["r.service"], restart: ["x.service"], start: ["b.service", "A.service", "multi-user.target"], hidden: ["multi-user.target"] }), {
    before: { "old.service": { activeState: "active", subState: "running" } },
    after: { "old.service": { activeState: "active", subState: "running" }, "new.service": { activeState: "active", subState: "running" } },
  });
  assert.is(r.status, 0);
  assert.equal(r.lines, [
    "stopping the following units: A.service, b.service",
    "NOT restarting the following changed units: keep.service",
    "activating the configuration...",
    "restarting sysinit-reactivation.target",
    "reloading the following units: r.service",
    "restarting the following units: x.service",
    "starting the following units: A.service, b.service",
    "the following new units were started: new.service",
  ]);
  const order = r.events.filter((e) => !e.startsWith("done"));
  assert.equal(order, [
    "submit stop b.service", "submit stop A.service", "activate", "reset-failed", "daemon-reload", "users",
    "submit restart sysinit-reactivation.target", "submit reload r.service", "submit restart x.service",
    "submit start b.service", "submit start A.service", "submit start multi-user.target", "settle",
  ]);
  // every stop finished before activation began
  assert.ok(r.events.indexOf("done stop A.service") < r.events.indexOf("activate"));
  assert.ok(r.events.indexOf("done reload r.service") < r.events.indexOf("submit restart x.service"));
  for (const l of ["start", "restart", "reload"] as const) assert.not.ok(r.lists.exists(l), `${l}-list consumed`);
  assert.ok(r.journal.includes("switching to system configuration /top"));
  assert.ok(r.journal.includes("finished switching to system configuration /top"));
  assert.equal(r.summary.restarted, ["x.service"]);
  assert.equal(r.summary.skipped, [{ unit: "keep.service", reason: "test skip" }]);
  assert.ok(r.summary.phases.some((p) => p.phase === "activate"));
});

test("hidden stops and starts are done but not printed; empty phases print nothing", async () => {
  const r = await run(plan({ stop: ["t.target"], start: ["t.target"], hidden: ["t.target"] }));
  assert.equal(r.lines, ["activating the configuration...", "restarting sysinit-reactivation.target"]);
  assert.ok(r.events.includes("submit stop t.target") && r.events.includes("submit start t.target"));
});

test("systemd re-exec comes after activation and before daemon-reload", async () => {
  const r = await run(plan({ restartSystemd: true }));
  assert.equal(r.lines.slice(0, 2), ["activating the configuration...", "restarting systemd..."]);
  const e = r.events.filter((x) => !x.startsWith("done"));
  assert.equal(e.slice(0, 4), ["activate", "reexecute", "reset-failed", "daemon-reload"]);
});

test("a failed activation script: 'Failed to run activate script', the switch goes on, exit 2", async () => {
  const r = await run(plan({ start: ["a.service"] }), { activation: "failed" });
  assert.is(r.status, 2);
  assert.ok(r.lines.includes("Failed to run activate script"));
  assert.ok(r.events.includes("submit start a.service"));
});

test("failed jobs: 'Failed to <job> <unit>' and exit 4; refused jobs: 'Failed to <job> <unit>: error'", async () => {
  const r = await run(plan({ start: ["bad.service", "ok.service"], restart: ["gone.service"] }), {
    results: { "start bad.service": "failed" },
    refuse: { "restart gone.service": "Unit gone.service not found." },
  });
  assert.is(r.status, 4);
  assert.ok(r.lines.includes("Failed to restart gone.service: Unit gone.service not found."));
  assert.ok(r.lines.includes("Failed to start bad.service"));
  assert.not.ok(r.lines.includes("Failed to start ok.service"));
  assert.equal(r.summary.failedJobs, [{ unit: "bad.service", job: "start", result: "failed" }]);
});

test("failed units after settling: the warning, then systemctl status of them, exit 4", async () => {
  const r = await run(plan(), {
    before: { "f.service": { activeState: "active", subState: "running" }, "loop.service": { activeState: "active", subState: "running" } },
    after: { "f.service": { activeState: "failed", subState: "failed" }, "loop.service": { activeState: "activating", subState: "auto-restart" } },
  });
  assert.is(r.status, 4);
  assert.equal(r.lines.at(-1), "warning: the following units failed: f.service, loop.service");
  assert.equal(r.events.at(-1), "status f.service loop.service");
  assert.ok(r.journal.includes("switching to system configuration /top failed (status 4)"));
});

test("a reload target that went inactive is started instead (recorded in start-list first)", async () => {
  const dir = tempDir("stc-phases-");
  const seen: string[] = [];
  const r = await run(plan({ reload: ["down.service", "up.service"] }), {
    dir, inactive: ["down.service"],
    onSubmit: (v, u) => { if (v === "start") seen.push(...new SwitchLists(dir, false).read("start")); void u; },
  });
  assert.equal(r.lines.filter((l) => l.includes("following")), ["reloading the following units: up.service", "starting the following units: down.service"]);
  assert.ok(seen.includes("down.service"));
});

test("a refused job is reported and the switch goes on to consume every list", async () => {
  const dir = tempDir("stc-phases-");
  const r = await run(plan({ reload: ["r.service"], restart: ["x.service"], start: ["s.service"] }), {
    dir,
    onSubmit: (v) => { if (v === "restart") throw new Error("Access denied"); },
  });
  assert.is(r.status, 4);
  assert.ok(r.lines.includes("Failed to restart x.service: Access denied"));
  assert.ok(r.events.includes("submit start s.service"));
  const l = new SwitchLists(dir, false);
  for (const n of ["reload", "restart", "start"] as const) assert.not.ok(l.exists(n));
});

test("a job that never ends (connection lost) rejects the switch and keeps the lists", async () => {
  const dir = tempDir("stc-phases-");
  const lists = new SwitchLists(dir, false);
  const p = plan({ restart: ["x.service"], start: ["s.service"] });
  persistLists(lists, listsToPersist(p));
  const sd = fakeSystemd([]);
  sd.submit = async (job, unit) => {
    if (job === "restart" && unit === "x.service") return { done: Promise.reject(new Error("lost the connection to systemd")) };
    return { done: Promise.resolve({ unit, job, result: "done" }) };
  };
  let threw = false;
  try {
    await executePlan({ plan: p, sortUnits, systemd: sd, lists, log: memoryLog(), summary: emptySummary("test", "/t"), scope: systemScope() });
  } catch { threw = true; }
  assert.ok(threw);
  assert.equal(lists.read("restart"), ["x.service"]);
  assert.equal(lists.read("start"), ["s.service"]);
});

test("a lost bus connection while submitting stops the switch at once, lists intact", async () => {
  const dir = tempDir("stc-phases-");
  const submitted: string[] = [];
  let err: unknown;
  try {
    await run(plan({ restart: ["a.service", "b.service"], start: ["s.service"] }), {
      dir,
      onSubmit: (v, u) => {
        submitted.push(`${v} ${u}`);
        if (v === "restart" && u !== "sysinit-reactivation.target") throw Object.assign(new Error("D-Bus connection closed"), { name: "DBusDisconnectedError" });
      },
    });
  } catch (e) { err = e; }
  assert.is((err as Error)?.name, "DBusDisconnectedError");
  // The phase's calls went out together; nothing after it is tried on a dead connection.
  assert.equal(submitted, ["restart sysinit-reactivation.target", "restart a.service", "restart b.service"]);
  const l = new SwitchLists(dir, false);
  assert.equal(l.read("restart"), ["a.service", "b.service"]);
  assert.equal(l.read("start"), ["s.service"]);
});

test("a phase's calls go out back to back, not one round trip each; refusals still reported in order", async () => {
  const units = Array.from({ length: 100 }, (_, i) => `u${String(i).padStart(3, "0")}.service`);
  const events: string[] = [];
  const sd = fakeSystemd(events, { refuse: { "restart u005.service": "no", "restart u070.service": "no" } });
  // Each call is answered only once the next one has been sent (or the window is full): a loop
  // awaiting each answer before the next call would wait forever here.
  let inFlight = 0;
  let most = 0;
  const answer = sd.submit.bind(sd);
  sd.submit = async (verb, unit) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 0));
    inFlight--;
    return answer(verb, unit);
  };
  const log = memoryLog();
  const lists = new SwitchLists(tempDir("stc-phases-"), false);
  const status = await executePlan({ plan: plan({ restart: units }), sortUnits, systemd: sd, lists, log, summary: emptySummary("test", "/t"), scope: systemScope() });
  assert.is(status, 4);
  assert.ok(most > 1 && most <= 64, `calls in flight at once: ${most}`);
  assert.equal(log.lines.filter((l) => l.startsWith("Failed")), ["Failed to restart u005.service: no", "Failed to restart u070.service: no"]);
  assert.is(events.filter((e) => e.startsWith("done restart u")).length, 98);
});

test("activation restart/reload requests are folded in, recorded, and their files consumed", async () => {
  const dir = tempDir("stc-phases-");
  const l = new SwitchLists(dir, false);
  l.record("activationRestart", "req.service");
  l.record("activationReload", "rel.service");
  const r = await run(plan(), { dir });
  assert.ok(r.lines.includes("WARN: restarting or reloading systemd units from the activation script is deprecated and will be removed in NixOS 26.11."));
  assert.ok(r.lines.includes("restarting the following units: req.service"));
  assert.ok(r.lines.includes("reloading the following units: rel.service"));
  assert.not.ok(l.exists("activationRestart"));
  assert.not.ok(l.exists("activationReload"));
});

test("swaps removed from fstab are turned off first", async () => {
  const p = plan();
  p.swapsToStop = [{ device: "/swapfile", reason: "removed" }];
  const r = await run(p);
  assert.is(r.lines[0], "stopping swap device: /swapfile");
  assert.is(r.events[0], "swapoff /swapfile");
});

test("a noauto mount on the reload list that systemd has not loaded is dropped, and later switches are not wedged (issue 14)", async () => {
  // isActive answers false for a unit systemd has not loaded (the adapter maps NoSuchUnit to
  // false); the real planner then drops the fstab mount, and it leaves reload-list.
  const dir = tempDir("stc-phases-");
  const units = memoryUnitDirectory("/n", {});
  const fstab = (opts: string) => `/dev/sdz1 /data ext4 noauto,${opts} 0 0\n`;
  const first = planSwitch({ old: units, new: units, active: {}, oldFstab: fstab("a"), newFstab: fstab("b") });
  assert.equal(Object.keys(first.reload), ["data.mount"]);
  for (let i = 0; i < 4; i++) {
    const lists = new SwitchLists(dir, false);
    const p = i === 0 ? first : planSwitch({ old: units, new: units, active: {}, oldFstab: fstab("b"), newFstab: fstab("b"), lists: { reload: lists.read("reload") } });
    persistLists(lists, listsToPersist(p));
    const log = memoryLog();
    const events: string[] = [];
    const status = await executePlan({
      plan: p, sortUnits, systemd: fakeSystemd(events, { inactive: ["data.mount"] }), lists, log, summary: emptySummary("test", "/top"),
      scope: systemScope({ planner: { applyActivationRequests: (x) => x, reloadsAfterDaemonReload: (x, isActive) => reloadsAfterDaemonReload(x, isActive, units), newAndFailedUnits } }),
    });
    assert.is(status, 0, `switch ${i + 1}: ${log.lines.join("\n")}`);
    assert.not.ok(events.some((e) => e.includes("data.mount")), `switch ${i + 1}: no job for data.mount`);
    assert.equal(lists.read("reload"), [], `switch ${i + 1}: reload-list no longer holds it`);
    assert.equal(lists.read("start"), []);
  }
});

/** Runs the executor in a user scope (ng's do_user_switch) against the fake manager. */
async function runUser(p: UnitPlan, o: FakeOpts & { scope?: Partial<UserScope>; dir?: string; stale?: string[] } = {}) {
  const events: string[] = [];
  const log = memoryLog();
  const lists = new SwitchLists(o.dir ?? tempDir("stc-user-phases-"), false);
  persistLists(lists, listsToPersist(p));
  if (o.stale) lists.record("reload", ...o.stale);
  const status = await executePlan({
    plan: p, sortUnits, systemd: fakeSystemd(events, o), lists, log, summary: emptySummary("test", "/top"),
    scope: { kind: "user", ...o.scope },
  });
  return { status, events, lines: log.lines, journal: log.journalLines, lists };
}

test("user scope: ng's user lines and order, best-effort reload, nixos-activation.service, the post-activation pass", async () => {
  let activeAfter: Record<string, ActiveUnitState> | undefined;
  const r = await runUser(plan({ stop: ["b.service", "a.service"], skip: ["k.service"], reload: ["r.service"], restart: ["y.service", "x.service"], start: ["b.service", "a.service", "default.target"], hidden: ["default.target"] }), {
    after: { "m.service": { activeState: "active", subState: "running" } },
    scope: {
      activationService: "nixos-activation.service",
      migration: (active) => {
        activeAfter = active;
        const d = (...u: string[]) => Object.fromEntries(u.map((x) => [x, "moved"]));
        return { skip: d("s.service"), reload: d(), restart: d("m.service"), start: d("default.target", "n.service") };
      },
    },
  });
  assert.is(r.status, 0);
  assert.equal(r.lines, [
    "stopping the following user units: a.service, b.service",
    "NOT restarting the following user units: k.service",
    "reloading the following user units: r.service",
    "restarting the following user units: x.service, y.service",
    "starting the following user units: a.service, b.service",
    "restarting the following user units: nixos-activation.service",
    "NOT restarting (post-activation) the following user units: s.service",
    "restarting (post-activation) the following user units: m.service",
    "starting (post-activation) the following user units: n.service",
  ]);
  assert.equal(r.events.filter((e) => !e.startsWith("done")), [
    "submit stop b.service", "submit stop a.service", "reexecute", "reset-failed", "daemon-reload",
    "submit reload r.service", "submit restart x.service", "submit restart y.service",
    "submit start b.service", "submit start a.service", "submit start default.target",
    "submit restart nixos-activation.service", "daemon-reload",
    "submit restart m.service", "submit start default.target", "submit start n.service",
  ]);
  assert.equal(Object.keys(activeAfter ?? {}), ["m.service"], "the pass is planned against the units active after the activation");
  assert.equal(r.journal.filter((l) => l.includes("configuration")), [], "no system journal records");
  for (const l of ["start", "restart", "reload"] as const) assert.not.ok(r.lists.exists(l), `${l}-list consumed`);
});

test("user scope: failures name the user unit; the warning and where to look; exit 4", async () => {
  const r = await runUser(plan({ restart: ["x.service"], start: ["b.service", "ok.service"] }), {
    results: { "start b.service": "failed" },
    refuse: { "restart x.service": "Unit x.service not found." },
  });
  assert.is(r.status, 4);
  assert.equal(r.lines, [
    "restarting the following user units: x.service",
    "Failed to restart user unit x.service: Unit x.service not found.",
    "starting the following user units: b.service, ok.service",
    "Failed to start user unit b.service",
    "warning: the following user units failed: b.service",
    "See `systemctl --user status b.service` for details.",
  ]);
});

test("user scope: a refused nixos-activation.service restart is reported by its name alone", async () => {
  const r = await runUser(plan(), { refuse: { "restart nixos-activation.service": "Access denied" }, scope: { activationService: "nixos-activation.service" } });
  assert.is(r.status, 4);
  assert.equal(r.lines, ["restarting the following user units: nixos-activation.service", "Failed to restart nixos-activation.service: Access denied"]);
});

test("an empty reload phase: the user scope removes its list, the system scope keeps it (as ng)", async () => {
  const user = await runUser(plan(), { stale: ["stale.service"] });
  assert.not.ok(user.lists.exists("reload"));
  const dir = tempDir("stc-phases-stale-");
  new SwitchLists(dir, false).record("reload", "stale.service");
  const system = await run(plan(), { dir });
  assert.equal(system.lists.read("reload"), ["stale.service"]);
});

test.run();
