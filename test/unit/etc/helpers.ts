/** Running the etc step's halves against a fixture root, for tests. */
import { applyEtc } from "../../../src/etc/apply.ts";
import { planEtcSetup } from "../../../src/etc/step.ts";
import type { EtcPlan } from "../../../src/etc/plan.ts";
import { buildEtcTree, type FixtureEntry } from "./fixtures.ts";

export interface RunResult { plan: EtcPlan; lines: string[]; status: number; messages: string[] }

/** Builds the tree for `entries` in `root`, plans and applies it. */
export async function setup(root: string, entries: Record<string, FixtureEntry>, env: Record<string, string> = {}): Promise<RunResult> {
  const etc = buildEtcTree(root, entries);
  const { data, lines } = planEtcSetup(root, etc, env, false);
  const messages: string[] = [];
  const status = await applyEtc(root, data, { stderr: (l) => messages.push(l) });
  return { plan: data, lines, status, messages };
}

/** The kinds and names of a plan's operations, e.g. `link hosts`. */
export function opSummary(plan: EtcPlan): string[] {
  return plan.ops.map((o) => ("name" in o ? `${o.op} ${o.name}` : o.op));
}
