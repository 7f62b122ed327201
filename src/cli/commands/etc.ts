/**
 * `stagehand etc [--root DIR] [--dry] [--diff] ETC_STORE_PATH`: sets up DIR/etc (default /) from a
 * generation's etc tree, as setup-etc.pl does. With `--root /sysroot` it runs in the initrd before
 * switch-root: paths, symlinks and owner names are all taken from the target root.
 */
import { planEtcSetup } from "../../etc/step.ts";
import { applyEtc } from "../../etc/apply.ts";
import { copyDiff } from "../../etc/plan.ts";
import { flag, has, parseArgs, UsageError } from "../args.ts";
import { requireRoot } from "../context.ts";
import { err, out } from "../../output/lines.ts";

export async function run(args: string[]): Promise<number> {
  const p = parseArgs(args, ["root"], ["dry", "diff"]);
  if (p.positionals.length !== 1) throw new UsageError("etc takes one ETC_STORE_PATH (a generation's etc tree)");
  const root = flag(p, "root") ?? "/";
  const dry = has(p, "dry");
  if (!dry) requireRoot("etc");
  let plan;
  try {
    plan = planEtcSetup(root, p.positionals[0]!, process.env, has(p, "diff"));
  } catch (e) {
    err(`stagehand etc: ${(e as Error).message}`);
    return 1;
  }
  if (dry) {
    for (const line of plan.lines) out(line);
    return plan.failed ? 1 : 0;
  }
  if (has(p, "diff")) for (const op of plan.data.ops) if (op.op === "copy") copyDiff(op).forEach((l) => out(l));
  return applyEtc(root, plan.data, { stderr: err }, () => planEtcSetup(root, p.positionals[0]!, process.env, false).data);
}
