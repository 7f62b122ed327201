/** An exclusive, non-blocking advisory lock on a file, held until released or the process exits. */
import { closeSync, openSync, constants } from "node:fs";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "./libc.ts";

export interface Lock {
  readonly path: string;
  release(): void;
}

/** The lock held on `fd`, or undefined (fd closed) when another process holds it. */
function take(path: string, fd: number): Lock | undefined {
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

/**
 * Takes `flock(LOCK_EX|LOCK_NB)` on the directory `dir` itself (no lock file is created in it),
 * e.g. the root's /etc for the steps that write there. Undefined when another process holds it.
 */
export function tryLockDirectory(dir: string): Lock | undefined {
  return take(dir, openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY));
}

/**
 * Takes `flock(LOCK_EX|LOCK_NB)` on `path` (created 0600 if missing).
 * Returns undefined when another process holds it: callers must not wait, as
 * switch-to-configuration refuses to queue behind a running switch.
 */
export function tryLockExclusive(path: string): Lock | undefined {
  return take(path, openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600));
}
