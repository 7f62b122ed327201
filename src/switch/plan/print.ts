/**
 * Printers of a unit plan: the dry-activate lines, byte-exact with switch-to-configuration-ng
 * (which writes them to stderr), optionally followed by each unit's reason (`--explain`) and a
 * unified diff of its unit file (`--diff`); and the `plan --json` document.
 */
import { unifiedDiff } from "../../text/diff.ts";
import { isUnitInputError, templateOf, type UnitDirectory } from "../../units/dir.ts";
import { sortUnits, visible, type Decisions, type UnitPlan } from "./model.ts";

/** What to add to the ng lines. */
export interface PrintOptions {
  /** After each list, one `  UNIT: reason` line per unit. */
  explain?: boolean;
  /** For reloaded, restarted, started and "NOT restarting" units, a unified diff of the old and new unit file and drop-ins. */
  diff?: { old: UnitDirectory; new: UnitDirectory };
}

function list(lines: string[], prefix: string, units: string[], d: Decisions, opts: PrintOptions, withDiff: boolean): void {
  if (units.length === 0) return;
  lines.push(prefix + units.join(", "));
  for (const u of units) {
    if (opts.explain) lines.push(`  ${u}: ${d[u]}`);
    if (withDiff && opts.diff) lines.push(...unitDiff(u, opts.diff.old, opts.diff.new));
  }
}

/** The lines ng prints before running the dry-activate script: swaps, stops, "NOT stop". */
export function dryActivateBefore(plan: UnitPlan, opts: PrintOptions = {}): string[] {
  const lines: string[] = [];
  for (const s of plan.swapsToStop) {
    lines.push(`would stop swap device: ${s.device}`);
    if (opts.explain) lines.push(`  ${s.device}: ${s.reason}`);
  }
  list(lines, "would stop the following units: ", visible(plan, plan.stop), plan.stop, opts, false);
  list(lines, "would NOT stop the following changed units: ", sortUnits(Object.keys(plan.skip)), plan.skip, opts, true);
  return lines;
}

/** The lines ng prints after the dry-activate script: re-exec, reloads, restarts, starts. */
export function dryActivateAfter(plan: UnitPlan, opts: PrintOptions = {}): string[] {
  const lines: string[] = [];
  if (plan.restartSystemd) {
    lines.push("would restart systemd");
    if (opts.explain && plan.restartSystemdReason) lines.push(`  systemd: ${plan.restartSystemdReason}`);
  }
  list(lines, "would reload the following units: ", sortUnits(Object.keys(plan.reload)), plan.reload, opts, true);
  list(lines, "would restart the following units: ", sortUnits(Object.keys(plan.restart)), plan.restart, opts, true);
  // Stopped-and-started units are restarts in substance: their diff goes under "would start".
  list(lines, "would start the following units: ", visible(plan, plan.start), plan.start, opts, true);
  return lines;
}

/** The whole dry-activate report of a plan (as `stagehand plan OLD NEW` prints it). */
export function dryActivateLines(plan: UnitPlan, opts: PrintOptions = {}): string[] {
  return [...dryActivateBefore(plan, opts), "would activate the configuration...", ...dryActivateAfter(plan, opts)];
}

/**
 * A unit's definition as one text: the unit file then each drop-in, each under a `# path` line; a
 * file that cannot be read (the running generation's, taken as changed by the planner) is named
 * with why instead.
 */
function effectiveText(dir: UnitDirectory, unit: string): string {
  try {
    return readEffectiveText(dir, unit);
  } catch (e) {
    if (!isUnitInputError(e)) throw e;
    return `# cannot be read: ${(e as Error).message}\n`;
  }
}

function readEffectiveText(dir: UnitDirectory, unit: string): string {
  const t = templateOf(unit);
  const base = t && !dir.exists(unit) ? `${t[0]}@.${t[1]}` : unit;
  const main = dir.read(base);
  if (main === undefined) return "";
  const parts = [`# ${dir.path}/${base}\n${main}`];
  for (const d of dir.dropins(base)) parts.push(`# ${d.path}\n${d.text}`);
  if (base !== unit) for (const d of dir.dropins(unit)) parts.push(`# ${d.path}\n${d.text}`);
  return parts.map((p) => (p.endsWith("\n") ? p : p + "\n")).join("");
}

/** Unified diff lines of a unit between the two directories (none when the text is equal). */
function unitDiff(unit: string, oldDir: UnitDirectory, newDir: UnitDirectory): string[] {
  const a = effectiveText(oldDir, unit);
  const b = effectiveText(newDir, unit);
  if (a === b) return [];
  return unifiedDiff(`a/${unit}`, `b/${unit}`, a, b, 3).map((l) => `    ${l}`);
}

/** Decisions as sorted `{unit, reason}` entries, for the JSON document. */
function entries(d: Decisions, hidden?: ReadonlySet<string>) {
  return sortUnits(Object.keys(d)).map((unit) => ({ unit, reason: d[unit]!, ...(hidden?.has(unit) ? { hidden: true } : {}) }));
}

/** The `plan --json` document (schema: docs/schemas/unit-plan.schema.json). */
export function planToJson(plan: UnitPlan, extra: { old?: string; new?: string } = {}) {
  const hidden = new Set(plan.hidden);
  return {
    version: 1,
    ...(extra.old !== undefined ? { old: extra.old } : {}),
    ...(extra.new !== undefined ? { new: extra.new } : {}),
    stop: entries(plan.stop, hidden),
    skip: entries(plan.skip),
    reload: entries(plan.reload),
    restart: entries(plan.restart),
    start: entries(plan.start, hidden),
    swapsToStop: plan.swapsToStop,
    restartSystemd: plan.restartSystemd,
    ...(plan.restartSystemdReason ? { restartSystemdReason: plan.restartSystemdReason } : {}),
    assumptions: plan.assumptions,
  };
}
