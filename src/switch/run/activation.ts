/** Running the generation's activation script: `$OUT/activate $OUT`, or `$OUT/dry-activate $OUT`. */
import { join } from "node:path";
import { type LineSink, runChild } from "./run-command.ts";

/** How the activation script went. */
export type ActivationOutcome = "ok" | "missing" | "failed";

/**
 * Runs `$OUT/activate` (real) or `$OUT/dry-activate` (dry). A toplevel without the script
 * (`system.activatable = false`) is "missing", which ng tolerates; anything else non-zero is
 * "failed" (ng's "Failed to run activate script", exit 2 at the end — the switch goes on).
 */
export async function runActivation(out: string, dry: boolean, env: NodeJS.ProcessEnv = process.env, sink?: LineSink): Promise<ActivationOutcome> {
  const script = join(out, dry ? "dry-activate" : "activate");
  const r = await runChild([script, out], env, sink);
  if (r.spawnError) return r.spawnError.code === "ENOENT" || r.spawnError.code === "EACCES" ? "missing" : "failed";
  return r.status === 0 ? "ok" : "failed";
}
