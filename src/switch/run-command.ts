/** Runs the helper programs of a switch (checks, bootloader, activation) with inherited stdio. */
import { spawn } from "node:child_process";

/** How a child ended: its exit status, or `spawnError` when it could not be started at all. */
export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Runs `argv` and waits. stdin is inherited (activation scripts may prompt), stdout and stderr
 * too, so lines interleave with ours as under ng.
 */
export function runChild(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: "inherit", env });
    } catch (e) {
      resolve({ status: null, signal: null, spawnError: e as NodeJS.ErrnoException });
      return;
    }
    child.once("error", (e) => resolve({ status: null, signal: null, spawnError: e as NodeJS.ErrnoException }));
    child.once("exit", (status, signal) => resolve({ status, signal }));
  });
}

/** Splits a command line on whitespace, as ng does for PRE_SWITCH_CHECK and INSTALL_BOOTLOADER. */
export function splitCommand(command: string): string[] {
  return command.split(/\s+/).filter((w) => w !== "");
}

/** True when the child ran and exited 0. */
export function succeeded(r: ChildResult): boolean {
  return r.spawnError === undefined && r.status === 0;
}
