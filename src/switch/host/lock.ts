/** /run/nixos and the switch lock: one switch at a time, the second fails at once. */
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Lock, tryLockExclusive } from "../../fs/lock.ts";
import { moveAsideUnless } from "../../fs/staged.ts";
import { EXIT, SwitchExit } from "./exit.ts";

/** The lock file's name inside the run directory. */
export const LOCK_NAME = "switch-to-configuration.lock";

/**
 * Creates the run directory (`/run/nixos`, or a user's `$XDG_RUNTIME_DIR/nixos` with 0700) and
 * sets its mode, as ng does on every run. Anything but a real directory at its name (a file, a
 * FIFO, a symlink, dangling or not) is moved aside first: ng fails on it at every switch until
 * someone removes it, and a chmod through a link would change its target. Returns where it went.
 */
export function ensureRunDir(dir: string, mode = 0o755): string | undefined {
  const movedAside = moveAsideUnless(dir, (st) => st.isDirectory());
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, mode);
  return movedAside;
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
