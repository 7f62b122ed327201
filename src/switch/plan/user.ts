/**
 * The pure parts of ng's per-user switch (do_user_switch): which active user units are moving to
 * NixOS ownership (they were loaded from elsewhere, e.g. ~/.config/systemd/user, and the new
 * generation now ships them in etc/systemd/user), what to do with them after activation, and the
 * "... the following user units: " lines.
 */
import { dirname, isAbsolute, join } from "node:path";
import { loadUnit, type UnitDirectory } from "../../units/dir.ts";
import { parseSystemdBool, type UnitInfo } from "../../units/parse.ts";
import { sortUnits, type ActiveUnit, type Decisions, type UnitPlan } from "./model.ts";
import { cannotBeRestartedDirectly } from "./modified.ts";

/** The NixOS-managed user unit directory. */
export const USER_UNIT_DIR = "/etc/systemd/user";

/**
 * Active user units that migrate to NixOS ownership with this switch: present in the new
 * generation, not already loaded from `fragmentDir`, and either loaded from the user's own unit
 * directory (`userConfigUnitDir`, $XDG_CONFIG_HOME/systemd/user) or absent from the old generation.
 * Units without a known FragmentPath are not candidates (ng: property read failed).
 */
export function userMigrationCandidates(active: Record<string, ActiveUnit>, oldDir: UnitDirectory, newDir: UnitDirectory, userConfigUnitDir?: string, fragmentDir = USER_UNIT_DIR): string[] {
  return sortUnits(Object.keys(active).filter((unit) => {
    if (!newDir.exists(unit)) return false;
    const fp = active[unit]!.fragmentPath;
    if (fp === undefined) return false;
    const parent = dirname(fp);
    if (parent === fragmentDir) return false;
    if (userConfigUnitDir !== undefined && parent === userConfigUnitDir) return true;
    return !oldDir.exists(unit);
  }));
}

/**
 * $XDG_CONFIG_HOME/systemd/user from the user manager's Environment property (the per-user child
 * runs with a cleared environment, so its own is no help): XDG_CONFIG_HOME, else HOME/.config;
 * only absolute values count. Undefined when neither is set (then no unit counts as shadowed).
 */
export function userConfigUnitDir(managerEnvironment: readonly string[]): string | undefined {
  const lookup = (key: string) => {
    for (const kv of managerEnvironment) {
      if (kv.startsWith(`${key}=`) && isAbsolute(kv.slice(key.length + 1))) return kv.slice(key.length + 1);
    }
    return undefined;
  };
  const xdg = lookup("XDG_CONFIG_HOME");
  const home = lookup("HOME");
  const configHome = xdg ?? (home === undefined ? undefined : join(home, ".config"));
  return configHome === undefined ? undefined : join(configHome, "systemd/user");
}

/** What to do with a migrated unit (ng's MigrationAction). */
export type MigrationAction = "skip" | "reload" | "restart" | "start";

/** A migrated unit that is still active. */
function migrationActionForActive(unit: string, info: UnitInfo): MigrationAction {
  if (cannotBeRestartedDirectly(unit)) return "skip";
  if (parseSystemdBool(info, "Service", "X-ReloadIfChanged", false)) return "reload";
  if (!parseSystemdBool(info, "Service", "X-RestartIfChanged", true) || parseSystemdBool(info, "Unit", "RefuseManualStop", false) ||
      parseSystemdBool(info, "Unit", "X-OnlyManualStart", false)) return "skip";
  return "restart";
}

/** A migrated unit that its previous owner stopped. */
function migrationActionForStopped(info: UnitInfo): MigrationAction {
  if (parseSystemdBool(info, "Unit", "RefuseManualStart", false) || parseSystemdBool(info, "Unit", "X-OnlyManualStart", false)) return "skip";
  return "start";
}

/** The post-activation pass for migrated user units. */
export interface MigrationPlan { skip: Decisions; reload: Decisions; restart: Decisions; start: Decisions }

/**
 * After daemon-reload: each candidate still active and now loaded from `fragmentDir` is handled
 * as an active unit, each no longer active as a stopped one (active units loaded from elsewhere
 * are left alone); the targets the main pass started are started again.
 */
export function planUserMigration(candidates: string[], activeAfter: Record<string, ActiveUnit>, newDir: UnitDirectory, plan: UnitPlan, fragmentDir = USER_UNIT_DIR): MigrationPlan {
  const m: MigrationPlan = { skip: Object.create(null), reload: Object.create(null), restart: Object.create(null), start: Object.create(null) };
  for (const unit of candidates) {
    const info = loadUnit(newDir, unit, unit);
    const now = Object.hasOwn(activeAfter, unit) ? activeAfter[unit]! : undefined;
    let action: MigrationAction;
    if (now) {
      if (now.fragmentPath === undefined || dirname(now.fragmentPath) !== fragmentDir) continue;
      action = migrationActionForActive(unit, info);
    } else {
      action = migrationActionForStopped(info);
    }
    m[action][unit] = now ? `moved to ${fragmentDir}, still active` : `moved to ${fragmentDir}, stopped by its previous owner`;
  }
  for (const unit of Object.keys(plan.start)) if (unit.endsWith(".target")) m.start[unit] ??= "active target, started again after the migration";
  return m;
}

/** ng's user-scope line: `VERB the following user units: a, b` (undefined when there are none). */
export function userUnitsLine(verb: string, units: Iterable<string>): string | undefined {
  const names = sortUnits(units);
  return names.length ? `${verb} the following user units: ${names.join(", ")}` : undefined;
}

/** ng's user-scope dry-activate lines (stop is printed unfiltered there; skip excludes nixos-activation.service). */
export function userDryActivateLines(plan: UnitPlan): string[] {
  const hidden = new Set(plan.hidden);
  const skip = Object.keys(plan.skip).filter((u) => u !== "nixos-activation.service");
  return [
    userUnitsLine("would stop", Object.keys(plan.stop)),
    userUnitsLine("would NOT restart", skip),
    userUnitsLine("would reload", Object.keys(plan.reload)),
    userUnitsLine("would restart", Object.keys(plan.restart)),
    userUnitsLine("would start", Object.keys(plan.start).filter((u) => !hidden.has(u))),
  ].filter((l): l is string => l !== undefined);
}
