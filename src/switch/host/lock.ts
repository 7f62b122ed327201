/** /run/nixos and the switch lock: one switch at a time, the second fails at once. */
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Lock, tryLockExclusive } from "../../fs/lock.ts";
import { EXIT, SwitchExit } from "./exit.ts";

/** The lock file's name inside the run directory. */
export const LOCK_NAME = "switch-to-configuration.lock";

/** Creates the run directory (`/run/nixos`) with mode 0755, as ng does on every run. */
export function ensureRunDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
}

/**
 * Takes the non-blocking exclusive lock on `dir/switch-to-configuration.lock`. A held lock is
 * ng's "Could not acquire lock" with EAGAIN as the exit status; nothing waits.
 */
export function acquireSwitchLock(dir: string): Lock {
  let lock: Lock | undefined;
  try {
    lock = tryLockExclusive(join(dir, LOCK_NAME));
  } catch {
    throw new SwitchExit(EXIT.error, ["Could not open lock"]);
  }
  if (!lock) throw new SwitchExit(EXIT.locked, ["Could not acquire lock"]);
  return lock;
}
