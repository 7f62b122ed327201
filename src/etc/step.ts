/**
 * The `etc` builtin step (NixOS's `system.activationScripts.etc`, which ran setup-etc.pl):
 * options `etc` = the generation's etc tree (`${systemConfig}/etc`), `diff` = "true" to show
 * content changes of copied files in the plan. It acts on the context's root.
 */
import type { BuiltinStep, StepContext, StepPlan } from "../graph/step.ts";
import { applyEtc } from "./apply.ts";
import { type EtcPlan, planEtc, planLines } from "./plan.ts";
import { withResolveCache } from "../fs/root.ts";
import { loadEtcState } from "./state.ts";
import { readEtcTree } from "./tree.ts";

/**
 * Loads the tree and the state of the root's /etc, and plans. Reads only. `planned`: files a dry
 * run's earlier steps would have written (StepContext.planned), read in place of the root's.
 */
export function planEtcSetup(root: string, etcPath: string, env: Record<string, string | undefined>, diff: boolean, planned?: ReadonlyMap<string, string>): StepPlan<EtcPlan> {
  // Planning only reads, so path resolution can be memoised for its duration.
  const { tree, state } = withResolveCache(() => {
    const tree = readEtcTree(root, etcPath);
    return { tree, state: loadEtcState(root, tree, planned) };
  });
  const plan = planEtc(tree, state, { inNixosEnter: !!env.IN_NIXOS_ENTER, diff });
  return { lines: planLines(plan, { diff }), data: plan, failed: plan.ops.some((o) => o.op === "error") };
}

/** The builtin step registered as `etc`. */
export const etcStep: BuiltinStep<EtcPlan> = {
  options: { etc: { required: true }, diff: { values: ["true", "false"] } },
  plan(ctx: StepContext, options: Record<string, string>) {
    const etc = options.etc;
    if (!etc) throw new Error("the etc step needs option 'etc' (the generation's etc tree)");
    return planEtcSetup(ctx.root, etc, ctx.env, options.diff === "true", ctx.planned);
  },
  apply(ctx: StepContext, plan: StepPlan<EtcPlan>) {
    // What NixOS's etc activation snippet prints before running setup-etc.pl.
    ctx.stdout("setting up /etc...");
    return applyEtc(ctx.root, plan.data, { stderr: ctx.stderr }, () => planEtcSetup(ctx.root, plan.data.tree, ctx.env, false).data);
  },
};
