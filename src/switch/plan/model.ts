/**
 * The planner's data: the active units it is given, its input, and the plan it returns (per unit
 * list, unit name -> the reason for the decision), with the orders ng prints them in.
 */
import { byteCompare } from "../../text/bytewise.ts";
import type { UnitDirectory } from "../../units/dir.ts";

/** A unit systemd reports loaded and not inactive (ng's get_active_units). */
export interface ActiveUnit {
  /** ActiveState: active, activating, deactivating, reloading, failed... */
  activeState: string;
  /** SubState: running, exited, auto-restart... */
  subState: string;
  /**
   * FragmentPath; units not loaded from `managedPrefix` (generator output) are left alone.
   * Undefined means "assume managed" (for hand-written `--active` files).
   */
  fragmentPath?: string;
}

/** Row of ListUnitsByPatterns reduced to what the filter needs. */
export interface ListedUnit extends ActiveUnit {
  name: string;
  /** The `following` column: non-empty for alias/device units that follow another. */
  following: string;
}

/** ng's active-unit filter: units that follow nobody and are not inactive. */
export function activeUnitsFrom(rows: Iterable<ListedUnit>): Record<string, ActiveUnit> {
  const out: Record<string, ActiveUnit> = Object.create(null);
  for (const r of rows) {
    if (r.following === "" && r.activeState !== "inactive") {
      out[r.name] = { activeState: r.activeState, subState: r.subState, ...(r.fragmentPath !== undefined ? { fragmentPath: r.fragmentPath } : {}) };
    }
  }
  return out;
}

/** Everything the planner needs; all of it read by the caller. */
export interface PlanInput {
  /** Unit directory of the running system (/etc/systemd/system). */
  old: UnitDirectory;
  /** Unit directory of the new generation ($TOPLEVEL/etc/systemd/system). */
  new: UnitDirectory;
  /** Active units, as filtered by `activeUnitsFrom`. */
  active: Record<string, ActiveUnit>;
  /** Units whose FragmentPath does not start with this are skipped. Default "/etc/systemd/system". */
  managedPrefix?: string;
  /** Text of the running /etc/fstab (undefined: missing). */
  oldFstab?: string;
  /** Text of $TOPLEVEL/etc/fstab (undefined: missing). */
  newFstab?: string;
  /** /run/nixos/{start,restart,reload}-list: an interrupted switch is resumed. */
  lists?: { start?: string[]; restart?: string[]; reload?: string[] };
  /** STC_DISPLAY_ALL_UNITS=1: show the targets that are always started. */
  displayAllUnits?: boolean;
  /** Canonical paths deciding a systemd re-exec ("/unknown" where ng would use it). */
  systemd?: { currentPid1: string; newPid1: string; currentSystemConf: string; newSystemConf: string };
  /** Assumptions made while gathering the input, carried into the plan. */
  assumptions?: string[];
  /**
   * Filled with the active units whose turn in the active-unit pass changed the plan. Only their
   * FragmentPath can change the outcome (the filter only skips units), so a switch reads it for
   * them alone instead of for every active unit (planSwitchReadingFragments).
   */
  touched?: Set<string>;
  /** With `touched`: filled with the units whose turn failed (a unit file that cannot be loaded). */
  probeFailed?: Set<string>;
}

/** Unit name -> why. */
export type Decisions = Record<string, string>;

/** The plan. JSON-serialisable; its JSON form (plan/print.ts) is described by docs/schemas/unit-plan.schema.json. */
export interface UnitPlan {
  stop: Decisions;
  /** Changed units deliberately not restarted (X-RestartIfChanged=false, RefuseManualStop...). */
  skip: Decisions;
  start: Decisions;
  restart: Decisions;
  reload: Decisions;
  /** Units in stop/start that are not printed (targets that are always started). */
  hidden: string[];
  swapsToStop: { device: string; reason: string }[];
  restartSystemd: boolean;
  restartSystemdReason?: string;
  assumptions: string[];
}

/** Whether `unit` has a decision in `d`. */
export const has = (d: Decisions, unit: string) => Object.hasOwn(d, unit);
/**
 * Decisions added or withdrawn so far (add, withdraw), in any plan: a count that moves whenever a
 * plan changes, so the planner's probe pass sees whether one unit's turn changed it without
 * counting the plan's keys after every unit.
 */
let decisionChanges = 0;
/** How many decisions have been added or withdrawn so far (only its changes mean anything). */
export const decisionChangesSoFar = (): number => decisionChanges;
/** Adds a decision; the first reason given for a unit is kept. */
export function add(d: Decisions, unit: string, reason: string): void {
  if (has(d, unit)) return;
  d[unit] = reason;
  decisionChanges++;
}
/** Withdraws a decision, if there is one. */
export function withdraw(d: Decisions, unit: string): void {
  if (!has(d, unit)) return;
  delete d[unit];
  decisionChanges++;
}
const decisions = (): Decisions => Object.create(null) as Decisions;

/** A plan with nothing decided. */
export function emptyPlan(): UnitPlan {
  return { stop: decisions(), skip: decisions(), start: decisions(), restart: decisions(), reload: decisions(), hidden: [], swapsToStop: [], restartSystemd: false, assumptions: [] };
}

/** Deep copy, so post-activation steps can return new plans. */
export function clonePlan(p: UnitPlan): UnitPlan {
  const copy = (d: Decisions) => Object.assign(decisions(), d);
  return { ...p, stop: copy(p.stop), skip: copy(p.skip), start: copy(p.start), restart: copy(p.restart), reload: copy(p.reload), hidden: [...p.hidden], swapsToStop: p.swapsToStop.map((s) => ({ ...s })), assumptions: [...p.assumptions] };
}

/** ng's order for printed unit lists: by lower-cased name (ties, which ng leaves to chance, by name). */
export function sortUnits(names: Iterable<string>): string[] {
  // Each name is lower-cased once, not once per comparison.
  const keyed = Array.from(names, (name) => ({ name, lower: name.toLowerCase() }));
  keyed.sort((a, b) => byteCompare(a.lower, b.lower) || byteCompare(a.name, b.name));
  return keyed.map((k) => k.name);
}

/** Units of `d` that are printed (not hidden), sorted. */
export function visible(plan: UnitPlan, d: Decisions): string[] {
  const hidden = new Set(plan.hidden);
  return sortUnits(Object.keys(d).filter((u) => !hidden.has(u)));
}

/** Contents to write to /run/nixos/{start,restart,reload}-list before anything is stopped. */
export function listsToPersist(plan: UnitPlan): { start: string[]; restart: string[]; reload: string[] } {
  return { start: sortUnits(Object.keys(plan.start)), restart: sortUnits(Object.keys(plan.restart)), reload: sortUnits(Object.keys(plan.reload)) };
}

