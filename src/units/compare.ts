/**
 * ng's `compare_units`: does a changed unit need a restart, a reload, or nothing? Differences in
 * `[Unit]` keys that do not affect the running unit are ignored, `X-Reload-Triggers` alone
 * means reload, `[Service] ExecReload` alone means reload (removing it means nothing),
 * `[Mount] Options` alone means reload; anything else means restart. The reason names the
 * section and key that decided.
 */
import type { UnitInfo } from "./parse.ts";

/** The outcome, with the section/key that decided it. */
export type UnitComparison =
  | { kind: "equal" }
  | { kind: "restart"; reason: string }
  | { kind: "reload"; reason: string };

/** `[Unit]` keys whose change never restarts a unit. */
const UNIT_SECTION_IGNORES: ReadonlySet<string> = new Set([
  "X-Reload-Triggers", "Description", "Documentation", "OnFailure", "OnSuccess", "OnFailureJobMode",
  "IgnoreOnIsolate", "StopWhenUnneeded", "RefuseManualStart", "RefuseManualStop", "AllowIsolate",
  "CollectMode", "SourcePath",
]);

const sameValues = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const restart = (reason: string): UnitComparison => ({ kind: "restart", reason });

/** Compares the running unit's definition with the new one, exactly as ng does. */
export function compareUnits(current: UnitInfo, next: UnitInfo): UnitComparison {
  let ret: UnitComparison = { kind: "equal" };
  const reload = (reason: string) => { ret = { kind: "reload", reason }; };
  const newSections = new Set(Object.keys(next));

  for (const [sectionName, section] of Object.entries(current)) {
    if (!newSections.has(sectionName)) {
      if (sectionName === "Unit") {
        for (const key of Object.keys(section)) {
          if (!UNIT_SECTION_IGNORES.has(key)) return restart(`[Unit] section removed (it had ${key}=)`);
        }
        continue;
      }
      const keys = Object.keys(section);
      if (sectionName === "Service" && keys.length === 1 && keys[0] === "ExecReload") continue;
      return restart(`[${sectionName}] section removed`);
    }
    newSections.delete(sectionName);
    const nextSection = next[sectionName]!;
    const newKeys = new Set(Object.keys(nextSection));

    for (const [key, value] of Object.entries(section)) {
      newKeys.delete(key);
      const nextValue = nextSection[key];
      if (nextValue === undefined) {
        if (sectionName === "Unit" && UNIT_SECTION_IGNORES.has(key)) continue;
        if (sectionName === "Service" && key === "ExecReload") continue;
        return restart(`[${sectionName}] ${key}= removed`);
      }
      if (!sameValues(value, nextValue)) {
        if (sectionName === "Unit") {
          if (key === "X-Reload-Triggers") { reload("[Unit] X-Reload-Triggers= changed"); continue; }
          if (UNIT_SECTION_IGNORES.has(key)) continue;
        }
        if (sectionName === "Service" && key === "ExecReload") { reload("[Service] ExecReload= changed"); continue; }
        if (sectionName === "Mount" && key === "Options") { reload("[Mount] Options= changed"); continue; }
        return restart(`[${sectionName}] ${key}= changed`);
      }
    }

    if (newKeys.size > 0) {
      if (sectionName === "Unit") {
        for (const key of newKeys) {
          if (key === "X-Reload-Triggers") reload("[Unit] X-Reload-Triggers= added");
          else if (UNIT_SECTION_IGNORES.has(key)) continue;
          else return restart(`[Unit] ${key}= added`);
        }
      } else if (sectionName === "Service" && newKeys.size === 1 && newKeys.has("ExecReload")) {
        reload("[Service] ExecReload= added");
        continue;
      } else {
        return restart(`[${sectionName}] ${[...newKeys][0]}= added`);
      }
    }
  }

  if (newSections.size > 0) {
    if (newSections.size !== 1) return restart(`sections added: ${[...newSections].map((s) => `[${s}]`).join(", ")}`);
    if (newSections.has("Unit")) {
      for (const key of Object.keys(next.Unit!)) {
        if (!UNIT_SECTION_IGNORES.has(key)) return restart(`[Unit] section added (with ${key}=)`);
        if (key === "X-Reload-Triggers") reload("[Unit] section added with X-Reload-Triggers=");
      }
    } else if (newSections.has("Service")) {
      const keys = Object.keys(next.Service!);
      if (keys.length === 1 && keys[0] === "ExecReload") reload("[Service] section added with only ExecReload=");
      else return restart("[Service] section added");
    } else {
      return restart(`[${[...newSections][0]}] section added`);
    }
  }
  return ret;
}
