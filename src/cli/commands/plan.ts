/**
 * `stagehand plan`: printers of plans, never effects.
 * - `plan --graph FILE... [--json]`: the activation graph's execution order.
 * - `plan OLD NEW [--json] [--explain] [--diff]`: the unit plan of a switch (see switch/).
 */
import { loadGraph } from "../../graph/declarations.ts";
import { validateGraph } from "../../graph/executor.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { builtins } from "../builtins.ts";
import { MAX_BYTES, readRegularFile } from "../../fs/read.ts";
import { err, out } from "../../output/lines.ts";
import { loadGenerationsInput, parseActiveFile } from "../../switch/load.ts";
import { dryActivateLines, planSwitch, planToJson } from "../../switch/plan/index.ts";
import { UnitDirectoryError } from "../../units/dir.ts";
import { UnitParseError } from "../../units/parse.ts";

/** Runs `stagehand plan`; see the module comment. */
export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, ["graph", "active"], ["json", "explain", "diff"]);
  const graphs = p.flags.get("graph");
  if (graphs) {
    if (p.positionals.length > 0) throw new UsageError("plan --graph takes no positional arguments");
    const order = validateGraph(loadGraph(graphs), builtins());
    if (has(p, "json")) {
      out(JSON.stringify({
        steps: order.map((s) => ({
          name: s.name, kind: s.kind, builtin: s.builtin, after: s.after, before: s.before,
          supportsDryActivation: s.supportsDryActivation, source: s.source,
        })),
      }, null, 2));
    } else {
      order.forEach((s, i) => {
        const deps = s.after.length ? ` after ${s.after.join(", ")}` : "";
        const dry = s.supportsDryActivation ? "" : " (no dry activation)";
        out(`${String(i + 1).padStart(3)}. ${s.name} [${s.kind === "builtin" ? `builtin ${s.builtin}` : "shell"}]${deps}${dry}`);
      });
    }
    return 0;
  }
  if (p.positionals.length !== 2) throw new UsageError("plan takes --graph FILE, or OLD and NEW generations");
  return runUnitPlan(p.positionals[0]!, p.positionals[1]!, { json: has(p, "json"), explain: has(p, "explain"), diff: has(p, "diff"), active: flag(p, "active") });
}

/** Options of the `plan OLD NEW` branch. */
interface UnitPlanOptions { json: boolean; explain: boolean; diff: boolean; active?: string }

/** `plan OLD NEW`: prints the plan; bad input (unit syntax, missing directory, --active file) is exit 1 with the path. */
async function runUnitPlan(oldTop: string, newTop: string, o: UnitPlanOptions): Promise<number> {
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
