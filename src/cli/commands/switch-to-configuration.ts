/**
 * `switch-to-configuration ACTION` (also `stagehand switch-to-configuration ACTION`): a drop-in for
 * switch-to-configuration-ng. Extra flags, all optional: `--json` (a summary on stdout at the end),
 * `--explain` (or STC_EXPLAIN=1; reasons under dry-activate's lists), `--diff` (unit file diffs).
 */
import { parseAction } from "../../switch/host/contract.ts";
import { requireRootUser } from "../../switch/host/contract.ts";
import { SwitchExit } from "../../switch/host/exit.ts";
import { systemLog } from "../../switch/run/log.ts";
import { isDisconnect } from "../../switch/run/phases.ts";
import { emptySummary } from "../../switch/run/summary.ts";
import { runSystemSwitch } from "../../switch/run/system.ts";
import { PARENT_EXE_VAR, runUserSwitch } from "../../switch/run/user.ts";
import { err } from "../../output/lines.ts";
import { STC_USAGE } from "../usage.ts";

export async function run(args: string[]): Promise<number> {
  const log = systemLog("nixos");
  const parentExe = process.env[PARENT_EXE_VAR];
  if (parentExe !== undefined) return guarded(log, () => runUserSwitch(parentExe, log));

  // ng reads only the first argument; the flags are ours and may follow it.
  const action = parseAction(args[0]);
  if (!action) {
    err(STC_USAGE);
    return 1;
  }
  const flags = new Set(args.slice(1));
  const json = flags.has("--json");
  const summary = emptySummary(action, process.env.TOPLEVEL ?? "");
  const status = await guarded(log, async () => {
    requireRootUser("switch-to-configuration");
    return runSystemSwitch({
      action, log, summary,
      explain: flags.has("--explain") || process.env.STC_EXPLAIN === "1",
      diff: flags.has("--diff"),
    });
  });
  summary.exitCode = status;
  if (json) log.stdout(JSON.stringify(summary));
  return status;
}

/** Maps early exits to their lines and status, and any other error to ng's `Error: ...`, exit 1. */
async function guarded(log: ReturnType<typeof systemLog>, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SwitchExit) {
      for (const l of e.lines) log.error(l);
      return e.code;
    }
    log.error(`Error: ${(e as Error)?.message ?? String(e)}`);
    if (isDisconnect(e)) {
      log.error("The switch was interrupted; /run/nixos/{start,restart,reload}-list keep what is left to do: run it again.");
    }
    return 1;
  }
}
