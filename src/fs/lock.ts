/** An exclusive, non-blocking advisory lock on a file, held until released or the process exits. */
import { closeSync, openSync, constants } from "node:fs";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "./libc.ts";

export interface Lock {
  readonly path: string;
  release(): void;
}

/**
 * Takes `flock(LOCK_EX|LOCK_NB)` on `path` (created 0600 if missing).
 * Returns undefined when another process holds it: callers must not wait, as
 * switch-to-configuration refuses to queue behind a running switch.
 */
export function tryLockExclusive(path: string): Lock | undefined {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  if (!flock(fd, LOCK_EX | LOCK_NB)) {
    closeSync(fd);
    return undefined;
  }
  return {
    path,
    release() {
      flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}
