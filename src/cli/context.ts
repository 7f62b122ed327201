/** Builds the StepContext the CLI hands to graph runs. */
import type { RunMode, StepContext } from "../graph/step.ts";
import { err, out } from "../output/lines.ts";

export function cliContext(systemConfig: string, root: string, mode: RunMode): StepContext {
  return { systemConfig, root, mode, env: process.env, stdout: out, stderr: err };
}

/** Effects on the real root need root privileges: a clear error instead of EPERM halfway. */
export function requireRoot(what: string): void {
  if (typeof process.geteuid === "function" && process.geteuid() !== 0) {
    throw new NeedsRootError(`${what} must be run as root`);
  }
}

export class NeedsRootError extends Error {
  override name = "NeedsRootError";
}
