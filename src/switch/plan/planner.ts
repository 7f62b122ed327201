/**
 * The unit plan of a switch, decided without touching the machine: given the running and the new
 * generation's unit directories, both fstabs, the list files of an interrupted switch and the
 * units systemd reports active, which units to stop, leave alone ("NOT restarting"), start,
 * restart and reload, which swaps to turn off, and whether systemd re-executes. Mirrors
 * switch-to-configuration-ng (collect_unit_changes, handle_modified_unit, the fstab pass) rule for
 * rule; every decision carries a reason naming the section, key or rule that made it.
 */
import { compareUnits } from "../../units/compare.ts";
import { isUnitInputError, loadUnit, sameUnitFiles, templateOf, type UnitDirectory } from "../../units/dir.ts";
import { parseSystemdBool, type UnitInfo } from "../../units/parse.ts";
import { planFstab } from "./fstab.ts";
import { type ActiveUnit, add, decisionChangesSoFar, type Decisions, emptyPlan, has, type PlanInput, sortUnits, type UnitPlan } from "./model.ts";
import { handleModifiedUnit, resolve } from "./modified.ts";

const DEFAULT_PREFIX = "/etc/systemd/system";

/**
 * A unit of the running generation, or why its unit file cannot be read (too large, not a regular
 * file, not parseable). Its drop-ins are read as systemd loaded them: one it could not read
 * (dangling, a link loop, a line it refuses) was skipped. The unit is only compared with the new
 * one, so a running file that cannot be read is taken as changed (restarted, or stopped if the new
 * generation drops it): stopping the plan instead would fail every switch away from that
 * generation, the one that fixes it included. The new generation's files are what gets applied:
 * their errors stop the plan; so does a running directory over its budget (every unit would be
 * taken as changed).
 */
function loadRunning(dir: UnitDirectory, unit: string, baseUnit: string): UnitInfo | string {
  try {
    return loadUnit(dir, unit, baseUnit, { lenientDropins: true });
  } catch (e) {
    if (isUnitInputError(e)) return (e as Error).message;
    throw e;
  }
}

/** `test()` on the running generation's files, or `dflt` when they cannot be looked at. */
function runningCheck(test: () => boolean, dflt: boolean): boolean {
  try {
    return test();
  } catch (e) {
    if (isUnitInputError(e)) return dflt;
    throw e;
  }
}

/** Moves whenever a plan gains or loses a decision or a hidden unit (the probe pass compares it around each turn). */
function fingerprint(p: UnitPlan): string {
  return `${decisionChangesSoFar()},${p.hidden.length}`;
}

function seed(d: Decisions, units: string[] | undefined, file: string): void {
  for (const u of units ?? []) if (u !== "") add(d, u, `listed in ${file} (resuming an interrupted switch)`);
}

/**
 * planSwitch over a listing without FragmentPaths, reading them (`withFragments`) only for the units
 * whose turn changed the plan: a probe pass records those, assuming each is ours. Where every one
 * of them is (its FragmentPath under the managed prefix) and none failed to load, the probe is the
 * plan; otherwise the plan is made again with what was read. Resolves to the plan and the active
 * units with the FragmentPaths read.
 */
export async function planSwitchReadingFragments<A extends ActiveUnit>(
  input: Omit<PlanInput, "active" | "touched" | "probeFailed">,
  listed: Record<string, A>,
  withFragments: (active: Record<string, A>, units: Set<string>) => Promise<Record<string, A>>,
): Promise<{ plan: UnitPlan; active: Record<string, A> }> {
  const touched = new Set<string>();
  const probeFailed = new Set<string>();
  const probe = planSwitch({ ...input, active: listed, touched, probeFailed });
  const active = await withFragments(listed, touched);
  const prefix = input.managedPrefix ?? DEFAULT_PREFIX;
  const ours = (u: string) => active[u]?.fragmentPath === undefined || active[u]!.fragmentPath!.startsWith(prefix);
  const stands = probeFailed.size === 0 && [...touched].every(ours);
  return { plan: stands ? probe : planSwitch({ ...input, active }), active };
}

/**
 * The plan of a switch (ng up to the dry-activate printing / the stop phase): the active-unit pass,
 * the fstab and swap pass, and the systemd re-exec decision.
 */
export function planSwitch(input: PlanInput): UnitPlan {
  const plan = emptyPlan();
  plan.assumptions.push(...(input.assumptions ?? []));
  seed(plan.start, input.lists?.start, "/run/nixos/start-list");
  seed(plan.restart, input.lists?.restart, "/run/nixos/restart-list");
  seed(plan.reload, input.lists?.reload, "/run/nixos/reload-list");
  const prefix = input.managedPrefix ?? DEFAULT_PREFIX;
  const { old, new: next, active } = input;

  for (const unit of sortUnits(Object.keys(active))) {
    if (!input.touched) {
      consider(unit);
      continue;
    }
    // A probe pass: a unit that fails to load is touched too, for the real pass to judge.
    const before = fingerprint(plan);
    try {
      consider(unit);
    } catch {
      input.touched.add(unit);
      input.probeFailed?.add(unit);
    }
    if (fingerprint(plan) !== before) input.touched.add(unit);
  }
  /** The active-unit pass for one unit. */
  function consider(unit: string): void {
    const state = active[unit]!;
    if (state.fragmentPath !== undefined && !state.fragmentPath.startsWith(prefix)) return; // generated, not ours
    const tpl = templateOf(unit);
    const isInstance = tpl !== undefined && !old.exists(unit) && !next.exists(unit);
    const r = resolve(unit, isInstance);
    let dropinsRemoved = false;
    if (isInstance) {
      // An instance defined by drop-ins was ours iff one of its old drop-ins is a real file;
      // it is gone iff none of the new ones is.
      if (runningCheck(() => old.dropins(unit).some((d) => d.state === "present"), true)) {
        dropinsRemoved = !next.dropins(unit).some((d) => d.state === "present");
      }
    }
    if (!old.exists(r.baseUnit) || !(state.activeState === "active" || state.activeState === "activating")) return;

    const newState = next.fileState(r.baseUnit);
    if (dropinsRemoved || newState !== "present") {
      const current = loadRunning(old, unit, r.baseUnit);
      const what = dropinsRemoved ? "its instance drop-ins are gone" : newState === "masked" ? "masked in the new generation" : "removed from the new generation";
      if (typeof current === "string") add(plan.stop, unit, `${what} (its running unit file cannot be read, ${current}: X-StopOnRemoval taken as true)`);
      else if (parseSystemdBool(current, "Unit", "X-StopOnRemoval", true)) {
        add(plan.stop, unit, `${what} (X-StopOnRemoval is not false)`);
      }
    } else if (unit.endsWith(".target")) {
      const info = loadUnit(next, unit, r.baseUnit);
      const sleep = ["suspend.target", "hibernate.target", "hybrid-sleep.target"].includes(unit);
      if (!(sleep || parseSystemdBool(info, "Unit", "RefuseManualStart", false) || parseSystemdBool(info, "Unit", "X-OnlyManualStart", false))) {
        add(plan.start, unit, "active target, started again to pull in new and changed dependencies");
        if (!input.displayAllUnits && !plan.hidden.includes(unit)) plan.hidden.push(unit);
      }
      if (parseSystemdBool(info, "Unit", "X-StopOnReconfiguration", false)) {
        add(plan.stop, unit, "[Unit] X-StopOnReconfiguration=true");
      }
    } else {
      if (runningCheck(() => sameUnitFiles(old, next, unit, r.baseUnit), false)) return; // the same files: nothing to compare
      const current = loadRunning(old, unit, r.baseUnit);
      const info = loadUnit(next, unit, r.baseUnit);
      const cmp = typeof current === "string" ? { kind: "restart" as const, reason: `its running unit file cannot be read (${current}): taken as changed` } : compareUnits(current, info);
      if (cmp.kind === "restart") handleModifiedUnit(plan, input, unit, r, cmp.reason, info);
      else if (cmp.kind === "reload" && !has(plan.restart, unit)) add(plan.reload, unit, cmp.reason);
    }
  }

  planFstab(plan, input);

  if (input.systemd) {
    const s = input.systemd;
    if (s.currentPid1 !== s.newPid1) {
      plan.restartSystemd = true;
      plan.restartSystemdReason = `systemd binary changed: ${s.currentPid1} -> ${s.newPid1}`;
    } else if (s.currentSystemConf !== s.newSystemConf) {
      plan.restartSystemd = true;
      plan.restartSystemdReason = `etc/systemd/system.conf changed: ${s.currentSystemConf} -> ${s.newSystemConf}`;
    }
  }
  plan.hidden = sortUnits(plan.hidden);
  return plan;
}

