/** Installing the boot loader: `$INSTALL_BOOTLOADER TOPLEVEL`, for `switch` and `boot` only. */
import type { Action } from "./contract.ts";
import { EXIT, SwitchExit } from "./exit.ts";
import { type LineSink, runChild, splitCommand, succeeded } from "../run/run-command.ts";

/** Whether an action makes the configuration the boot default. */
export function installsBootloader(action: Action): boolean {
  return action === "switch" || action === "boot";
}

/**
 * Runs the installer with our environment (so NIXOS_INSTALL_BOOTLOADER reaches it); a failure
 * ends the switch with exit 1 before anything is activated.
 */
export async function installBootloader(command: string, toplevel: string, sink?: LineSink): Promise<void> {
  const argv = splitCommand(command);
  if (argv.length === 0) {
    throw new SwitchExit(EXIT.error, ["Error: missing first argument in install bootloader commands"]);
  }
  const r = await runChild([...argv, toplevel], process.env, sink);
  if (!succeeded(r)) throw new SwitchExit(EXIT.error, ["Failed to install bootloader"]);
}
