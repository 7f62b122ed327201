/**
 * ng's handle_modified_unit: the rule family deciding what happens to a unit whose definition
 * changed (reload, restart, stop and start, its sockets, or left alone), shared by the active-unit
 * pass and the activation script's restart requests.
 */
import { baseNameOf, loadUnit, templateOf } from "../../units/dir.ts";
import { parseSystemdBool, type UnitInfo } from "../../units/parse.ts";
import { add, has, type PlanInput, type UnitPlan, withdraw } from "./model.ts";

/** Where the unit was found, for a template instance: its template and the name without type. */
export interface Resolved { baseUnit: string; baseName: string }

/** Where `unit` is defined: itself, or its template when it is an instance without a file of its own. */
export function resolve(unit: string, isTemplate: boolean): Resolved {
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
export function handleModifiedUnit(plan: UnitPlan, input: Pick<PlanInput, "new" | "active">, unit: string, r: Resolved, why: string, newInfo: UnitInfo | undefined): void {
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
  withdraw(plan.reload, unit);
}

