/**
 * `stagehand users [--root DIR] [--dry] SPEC.json`: what update-users-groups.pl did, standalone.
 * `--dry` (or NIXOS_ACTION=dry-activate) prints what would change and writes nothing.
 */
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { err } from "../../output/lines.ts";
import { applyUsersPlan, planUsersStep } from "../../users/step.ts";

export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, ["root"], ["dry", "dry-activate"]);
  if (p.positionals.length !== 1) throw new UsageError("users needs exactly one SPEC.json");
  const root = flag(p, "root") ?? "/";
  const dry = has(p, "dry") || has(p, "dry-activate") || process.env.NIXOS_ACTION === "dry-activate";
  let plan;
  try {
    plan = planUsersStep(root, p.positionals[0]!, dry);
  } catch (e) {
    err(`stagehand users: ${(e as Error).message}`);
    return 1;
  }
  if (dry) {
    for (const l of plan.lines) err(l);
    return 0;
  }
  try {
    return await applyUsersPlan(root, plan, err, process.env);
  } catch (e) {
    err(`stagehand users: ${(e as Error).message}`);
    return 1;
  }
}
