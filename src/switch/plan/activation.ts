/**
 * The plan after the activation script and during the switch: its restart and reload requests,
 * reloads of units no longer active after daemon-reload, and the end-of-switch report.
 */
import { InputFileError } from "../../fs/read.ts";
import { loadUnit, templateOf, UnitDirectoryError, type UnitDirectory } from "../../units/dir.ts";
import { parseSystemdBool, UnitParseError } from "../../units/parse.ts";
import { type ActiveUnit, add, clonePlan, has, sortUnits, type UnitPlan, withdraw } from "./model.ts";
import { handleModifiedUnit, resolve } from "./modified.ts";

/** An error about one unit's files (missing, refused, unparsable), as opposed to a bug. */
function isUnitInputError(e: unknown): boolean {
  return e instanceof UnitDirectoryError || e instanceof UnitParseError || e instanceof InputFileError;
}

/**
 * Whether `dir` has a file for `unit`; false when that cannot be told (a name too long for a path,
 * a link loop), as ng's `Path::exists` answers. The name is a line of a list file: a junk line
 * that threw here would stop the switch before the list is removed, and so every later switch.
 */
function existsOrNot(dir: UnitDirectory, unit: string): boolean {
  try {
    return dir.exists(unit);
  } catch (e) {
    if (!isUnitInputError(e)) throw e;
    return false;
  }
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
    const isInstance = templateOf(unit) !== undefined && !existsOrNot(req.new, unit) && (!req.dry || !existsOrNot(req.old, unit));
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
    withdraw(p.reload, unit);
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
