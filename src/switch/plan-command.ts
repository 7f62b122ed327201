/** `stagehand plan OLD NEW [--json] [--explain] [--diff] [--active FILE]`: the unit plan of a switch, printed. */
import { MAX_BYTES, readRegularFile } from "../fs/read.ts";
import { err, out } from "../cli/output.ts";
import { UnitParseError } from "../units/parse.ts";
import { UnitDirectoryError } from "../units/dir.ts";
import { planSwitch } from "./plan.ts";
import { loadGenerationsInput, parseActiveFile } from "./plan-load.ts";
import { dryActivateLines, planToJson } from "./print.ts";

/** Options of the `plan OLD NEW` branch. */
export interface UnitPlanOptions { json: boolean; explain: boolean; diff: boolean; active?: string }

/** Prints the plan; bad input (unit syntax, missing directory, --active file) is exit 1 with the path. */
export async function runUnitPlan(oldTop: string, newTop: string, o: UnitPlanOptions): Promise<number> {
  try {
    const active = o.active !== undefined ? parseActiveFile(readRegularFile(o.active, { maxBytes: MAX_BYTES.database, what: "--active file" }).toString("utf8"), o.active) : undefined;
    const input = loadGenerationsInput(oldTop, newTop, active);
    const plan = planSwitch(input);
    if (o.json) {
      out(JSON.stringify(planToJson(plan, { old: oldTop, new: newTop }), null, 2));
    } else {
      for (const a of plan.assumptions) err(`note: ${a}`);
      for (const l of dryActivateLines(plan, { explain: o.explain, ...(o.diff ? { diff: { old: input.old, new: input.new } } : {}) })) out(l);
    }
    return 0;
  } catch (e) {
    // Unit syntax (UnitParseError), unusable paths (UnitDirectoryError), unreadable --active: exit 1.
    if (e instanceof UnitParseError || e instanceof UnitDirectoryError || e instanceof Error) {
      err(`error: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}
