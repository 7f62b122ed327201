/**
 * The unit plan of a switch, decided without touching the machine: given the running and the new
 * generation's unit directories, both fstabs, the list files of an interrupted switch and the
 * units systemd reports active, which units to stop, leave alone ("NOT restarting"), start,
 * restart and reload, which swaps to turn off, and whether systemd re-executes. Mirrors
 * switch-to-configuration-ng (collect_unit_changes, handle_modified_unit, the fstab pass) rule for
 * rule; every decision carries a reason naming the section, key or rule that made it.
 */
import { automountUnitName, mountUnitName } from "../fstab/escape.ts";
import { parseFstab } from "../fstab/fstab.ts";
import { compareUnits } from "../units/compare.ts";
import { baseNameOf, loadUnit, sameUnitFiles, templateOf, UnitDirectoryError, type UnitDirectory } from "../units/dir.ts";
import { InputFileError } from "../fs/read.ts";
import { parseSystemdBool, UnitParseError, type UnitInfo } from "../units/parse.ts";
import { byteCompare } from "../text/bytewise.ts";

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
   * them alone and plans again, instead of reading it for every active unit.
   */
  touched?: Set<string>;
}

/** Unit name -> why. */
export type Decisions = Record<string, string>;

/** The plan. JSON-serialisable; see readme-planner.md for the schema. */
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

const DEFAULT_PREFIX = "/etc/systemd/system";
const has = (d: Decisions, unit: string) => Object.hasOwn(d, unit);
/** Adds a decision; the first reason given for a unit is kept. */
function add(d: Decisions, unit: string, reason: string): void {
  if (!has(d, unit)) d[unit] = reason;
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

/** Where the unit was found, for a template instance: its template and the name without type. */
interface Resolved { baseUnit: string; baseName: string }

function resolve(unit: string, isTemplate: boolean): Resolved {
  const t = templateOf(unit);
  const baseUnit = t && isTemplate ? `${t[0]}@.${t[1]}` : unit;
  return { baseUnit, baseName: baseNameOf(baseUnit) };
}

/** The special targets and unit types that are never restarted directly (ng's cannot_be_restarted_directly). */
export function cannotBeRestartedDirectly(unit: string): boolean {
  return ["sysinit.target", "basic.target", "multi-user.target", "graphical.target"].includes(unit) || unit.endsWith(".path") || unit.endsWith(".slice");
}

/**
 * ng's handle_modified_unit: what to do with a unit whose definition changed in a way that is not
 * a mere reload. `newInfo` undefined means "requested by the activation script": the unit is then
 * restarted instead of stopped and started, and its new definition is read here.
 */
function handleModifiedUnit(plan: UnitPlan, input: Pick<PlanInput, "new" | "active">, unit: string, r: Resolved, why: string, newInfo: UnitInfo | undefined): void {
  const restartInsteadOfStopStart = newInfo === undefined;
  if (cannotBeRestartedDirectly(unit)) {
    return; // slices and paths pick up changes on daemon-reload; the special targets follow their dependents
  }
  if (unit.endsWith(".mount")) {
    if (unit === "-.mount" || unit === "nix.mount") add(plan.reload, unit, `${why}; / and /nix are remounted, never unmounted`);
    else add(plan.restart, unit, `${why}; mount units are restarted (remounted)`);
    return;
  }
  if (unit.endsWith(".socket")) {
    return; // changed sockets are left alone (NixOS #74899)
  }
  const info = newInfo ?? loadUnit(input.new, unit, r.baseUnit);

  if (parseSystemdBool(info, "Service", "X-ReloadIfChanged", false) && !has(plan.restart, unit) &&
      !(restartInsteadOfStopStart ? has(plan.restart, unit) : has(plan.stop, unit))) {
    add(plan.reload, unit, `${why}; [Service] X-ReloadIfChanged=true`);
    return;
  }
  const skipRule = !parseSystemdBool(info, "Service", "X-RestartIfChanged", true) ? "[Service] X-RestartIfChanged=false"
    : parseSystemdBool(info, "Unit", "RefuseManualStop", false) ? "[Unit] RefuseManualStop=true"
    : parseSystemdBool(info, "Unit", "X-OnlyManualStart", false) ? "[Unit] X-OnlyManualStart=true" : undefined;
  if (skipRule) {
    add(plan.skip, unit, `${why}; ${skipRule}`);
    return;
  }
  if (!parseSystemdBool(info, "Service", "X-StopIfChanged", true) || !unit.endsWith(".service")) {
    const rule = unit.endsWith(".service") ? "[Service] X-StopIfChanged=false" : "not a service, restarted rather than stopped and started";
    add(plan.restart, unit, `${why}; ${rule}`);
  } else {
    let socketActivated = false;
    const socketReasons: string[] = [];
    let sockets = (info.Service?.Sockets ?? []).join(" ").split(/\s+/).filter((s) => s !== "");
    if (sockets.length === 0) sockets = [`${r.baseName.endsWith("@") ? r.baseName.slice(0, -1) : r.baseName}.socket`];
    for (const socket of sockets) {
      const inNew = input.new.exists(socket);
      const sockWhy = `socket of changed ${unit} (${why})`;
      if (Object.hasOwn(input.active, socket)) {
        if (restartInsteadOfStopStart) add(plan.restart, socket, sockWhy);
        else add(plan.stop, socket, sockWhy);
        if (inNew) {
          if (restartInsteadOfStopStart) add(plan.restart, socket, sockWhy);
          else add(plan.start, socket, sockWhy);
          socketActivated = true;
          socketReasons.push(`socket-activated by active ${socket}`);
        }
      } else if (inNew) {
        socketActivated = true; // moving to socket activation: the socket starts it
        socketReasons.push(`${socket} in the new generation will start it`);
      }
    }
    if (parseSystemdBool(info, "Service", "X-NotSocketActivated", false)) socketActivated = false;
    const rule = socketActivated ? `stopped; ${socketReasons.join(", ")}` : "stopped and started";
    if (!socketActivated) {
      if (restartInsteadOfStopStart) add(plan.restart, unit, `${why}; ${rule}`);
      else add(plan.start, unit, `${why}; ${rule}`);
    }
    if (restartInsteadOfStopStart) add(plan.restart, unit, `${why}; ${rule}`);
    else add(plan.stop, unit, `${why}; ${rule}`);
  }
  // A restart supersedes a reload.
  delete plan.reload[unit];
}

/** The sizes of a plan's sets: an add or a delete in one unit's turn changes at least one. */
function fingerprint(p: UnitPlan): string {
  const n = (d: Decisions) => Object.keys(d).length;
  return `${n(p.stop)},${n(p.skip)},${n(p.start)},${n(p.restart)},${n(p.reload)},${p.hidden.length}`;
}

function seed(d: Decisions, units: string[] | undefined, file: string): void {
  for (const u of units ?? []) if (u !== "") add(d, u, `listed in ${file} (resuming an interrupted switch)`);
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
      if (old.dropins(unit).some((d) => d.state === "present")) {
        dropinsRemoved = !next.dropins(unit).some((d) => d.state === "present");
      }
    }
    if (!old.exists(r.baseUnit) || !(state.activeState === "active" || state.activeState === "activating")) return;

    const newState = next.fileState(r.baseUnit);
    if (dropinsRemoved || newState !== "present") {
      const current = loadUnit(old, unit, r.baseUnit);
      if (parseSystemdBool(current, "Unit", "X-StopOnRemoval", true)) {
        const what = dropinsRemoved ? "its instance drop-ins are gone" : newState === "masked" ? "masked in the new generation" : "removed from the new generation";
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
      if (sameUnitFiles(old, next, unit, r.baseUnit)) return; // the same files: nothing to compare
      const current = loadUnit(old, unit, r.baseUnit);
      const info = loadUnit(next, unit, r.baseUnit);
      const cmp = compareUnits(current, info);
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

/** The fstab pass: changed mounts restart or remount, removed ones stop, removed swaps go off. */
function planFstab(plan: UnitPlan, input: PlanInput): void {
  const cur = parseFstab(input.oldFstab ?? "");
  const next = parseFstab(input.newFstab ?? "");
  for (const mountpoint of sortUnits(Object.keys(cur.filesystems))) {
    const c = cur.filesystems[mountpoint]!;
    const mountUnit = mountUnitName(mountpoint);
    const n = Object.hasOwn(next.filesystems, mountpoint) ? next.filesystems[mountpoint] : undefined;
    if (n) {
      if (c.fsType !== n.fsType || c.device !== n.device) {
        const what = c.fsType !== n.fsType ? `type ${c.fsType} -> ${n.fsType}` : `device ${c.device} -> ${n.device}`;
        if (mountpoint === "/" || mountpoint === "/nix") {
          if (c.options !== n.options) add(plan.reload, mountUnit, `fstab: ${what} and options changed for ${mountpoint}; / and /nix are only remounted`);
          else add(plan.skip, mountUnit, `fstab: ${what} for ${mountpoint}; / and /nix are never unmounted`);
        } else {
          add(plan.restart, mountUnit, `fstab: ${what} for ${mountpoint}`);
        }
      } else if (c.options !== n.options) {
        add(plan.reload, mountUnit, `fstab: options ${c.options} -> ${n.options} for ${mountpoint} (remount)`);
      }
    } else if (c.options.includes("x-systemd.automount")) {
      add(plan.stop, automountUnitName(mountpoint), `fstab: ${mountpoint} removed (stopping the automount stops the mount)`);
    } else {
      add(plan.stop, mountUnit, `fstab: ${mountpoint} removed`);
    }
  }
  for (const device of sortUnits(Object.keys(cur.swaps))) {
    if (!Object.hasOwn(next.swaps, device)) plan.swapsToStop.push({ device, reason: "fstab: swap entry removed (turned off with swapoff)" });
  }
}

/** Contents to write to /run/nixos/{start,restart,reload}-list before anything is stopped. */
export function listsToPersist(plan: UnitPlan): { start: string[]; restart: string[]; reload: string[] } {
  return { start: sortUnits(Object.keys(plan.start)), restart: sortUnits(Object.keys(plan.restart)), reload: sortUnits(Object.keys(plan.reload)) };
}

/** An error about one unit's files (missing, refused, unparsable), as opposed to a bug. */
function isUnitInputError(e: unknown): boolean {
  return e instanceof UnitDirectoryError || e instanceof UnitParseError || e instanceof InputFileError;
}

/** Input of `applyActivationRequests`. */
export interface ActivationRequests {
  /** Lines of /run/nixos/activation-restart-list (dry: dry-activation-restart-list). */
  restart: string[];
  /** Lines of /run/nixos/activation-reload-list (dry: dry-activation-reload-list). */
  reload: string[];
  /** The active units as read before the switch (the same map given to planSwitch). */
  active: Record<string, ActiveUnit>;
  /** The running unit directory (/etc/systemd/system; already the new one after a real activation). */
  old: UnitDirectory;
  new: UnitDirectory;
  /** dry-activate: template detection also looks at the old directory (ng's difference). */
  dry: boolean;
}

/**
 * After the activation script ran: units it asked to restart are started when inactive, else
 * handled as changed (restarted rather than stopped and started); units it asked to reload are
 * reloaded when active and not already restarted or stopped. Returns a new plan.
 */
export function applyActivationRequests(plan: UnitPlan, req: ActivationRequests): UnitPlan {
  const p = clonePlan(plan);
  const why = "requested by the activation script";
  for (const unit of req.restart) {
    if (unit === "") continue;
    const isInstance = templateOf(unit) !== undefined && !req.new.exists(unit) && (!req.dry || !req.old.exists(unit));
    const r = resolve(unit, isInstance);
    if (!Object.hasOwn(req.active, unit)) {
      add(p.start, unit, `${why} (restart), not active: started`);
      continue;
    }
    try {
      handleModifiedUnit(p, { new: req.new, active: req.active }, unit, r, `${why} (restart)`, undefined);
    } catch (e) {
      // Its new definition cannot be read (no file in the new generation, or one systemd would
      // refuse too). ng aborts here, before the request list is removed, so the next activation
      // adds to the same list and every later switch aborts the same way. Restart it, as asked.
      if (!isUnitInputError(e)) throw e;
      add(p.restart, unit, `${why} (restart); its new unit file cannot be read (${(e as Error).message})`);
    }
  }
  for (const unit of req.reload) {
    if (unit === "") continue;
    if (Object.hasOwn(req.active, unit) && !has(p.restart, unit) && !has(p.stop, unit)) add(p.reload, unit, `${why} (reload)`);
  }
  return p;
}

/**
 * After daemon-reload, before reloading: a unit to reload that is no longer active (a
 * requirement was stopped) is started instead when its new unit file allows a manual start
 * (ng's rule, including its treatment of X-OnlyManualStart), and is never reloaded.
 */
export function reloadsAfterDaemonReload(plan: UnitPlan, isActive: (unit: string) => boolean, newDir: UnitDirectory): { plan: UnitPlan; startedInstead: string[]; dropped: string[] } {
  const p = clonePlan(plan);
  const startedInstead: string[] = [];
  const dropped: string[] = [];
  for (const unit of sortUnits(Object.keys(plan.reload))) {
    if (isActive(unit)) continue;
    let start = false;
    try {
      const info = loadUnit(newDir, unit, unit);
      start = !parseSystemdBool(info, "Unit", "RefuseManualStart", false) || parseSystemdBool(info, "Unit", "X-OnlyManualStart", false);
    } catch {
      start = false; // not in the NixOS unit directory (e.g. an fstab mount): nothing to start
    }
    if (start) {
      add(p.start, unit, `was to be reloaded (${plan.reload[unit]}) but is no longer active`);
      startedInstead.push(unit);
    } else {
      dropped.push(unit);
    }
    delete p.reload[unit];
  }
  return { plan: p, startedInstead, dropped };
}

/**
 * The end-of-switch report: units that failed (state failed, or a service in auto-restart whose
 * last run failed) and units active now that were not before (scopes excluded). Sorted.
 */
export function newAndFailedUnits(before: Record<string, ActiveUnit>, after: Record<string, ActiveUnit & { execMainStatus?: number }>): { newUnits: string[]; failedUnits: string[] } {
  const newUnits: string[] = [];
  const failedUnits: string[] = [];
  for (const [unit, s] of Object.entries(after)) {
    if (s.activeState === "failed") { failedUnits.push(unit); continue; }
    if (s.subState === "auto-restart" && unit.endsWith(".service") && (s.execMainStatus ?? 0) !== 0) { failedUnits.push(unit); continue; }
    if (!Object.hasOwn(before, unit) && !unit.endsWith(".scope")) newUnits.push(unit);
  }
  return { newUnits: sortUnits(newUnits), failedUnits: sortUnits(failedUnits) };
}
