/**
 * `stagehand plan`: printers of plans, never effects.
 * - `plan --graph FILE... [--json]`: the activation graph's execution order.
 * - `plan OLD NEW [--json] [--explain] [--diff]`: the unit plan of a switch (see switch/).
 */
import { loadGraph } from "../../graph/declarations.ts";
import { validateGraph } from "../../graph/executor.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { builtins } from "../builtins.ts";
import { out } from "../output.ts";
import { runUnitPlan } from "../../switch/plan-command.ts";

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
