/** The pre-switch check: `$PRE_SWITCH_CHECK TOPLEVEL ACTION`; `check` stops after it. */
import type { Action } from "./contract.ts";
import { EXIT, SwitchExit } from "./exit.ts";
import { type LineSink, runChild, splitCommand, succeeded } from "../run/run-command.ts";

/** Runs the check; a failure (or a check that cannot start) ends the switch with exit 1. */
export async function runPreSwitchCheck(command: string, toplevel: string, action: Action, sink?: LineSink): Promise<void> {
  const argv = splitCommand(command);
  if (argv.length === 0) {
    throw new SwitchExit(EXIT.error, ["Error: missing first argument in pre-switch check"]);
  }
  const r = await runChild([...argv, toplevel, action], process.env, sink);
  if (!succeeded(r)) throw new SwitchExit(EXIT.error, ["Pre-switch checks failed"]);
}
