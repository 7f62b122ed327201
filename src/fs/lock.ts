/** An exclusive, non-blocking advisory lock on a file, held until released or the process exits. */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from "node:fs";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "./libc.ts";
import { moveAsideUnless } from "./staged.ts";

export interface Lock {
  readonly path: string;
  /** Where something other than a regular file found at the lock's name was moved. */
  readonly movedAside?: string;
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
 * Moves something other than a regular file at a lock file's name (a link, a FIFO, a device, a
 * directory) aside to `PATH.broken-TIME`, looked at with lstat and never opened; returns where, or
 * undefined when nothing was in the way. Refusing it would fail every later run; opening a FIFO
 * can block, opening a device can act. Throws when it cannot be moved.
 */
export function clearLockName(path: string): string | undefined {
  return moveAsideUnless(path, (st) => st.isFile());
}

/**
 * Takes `flock(LOCK_EX|LOCK_NB)` on the lock file `path`, created 0600 if missing. Returns
 * undefined when another process holds it: callers must not wait, as switch-to-configuration
 * refuses to queue behind a running switch. flock(2) needs only an open descriptor, so a lock on
 * anything another user can open (a directory, a world-readable file) is one any user can hold:
 * the file is kept 0600, and opened O_NOFOLLOW (a link planted at its name is never followed) and
 * O_NONBLOCK (a FIFO there cannot block the open).
 *
 * Something other than a regular file at the name (a link, a FIFO, a device, a directory) is
 * looked at before it is opened, never opened, and moved aside to `PATH.broken-TIME` (`Lock.movedAside`
 * says where): refusing it would make every later run fail. Throws only when the name cannot be
 * cleared or opened.
 */
export function tryLockExclusive(path: string): Lock | undefined {
  const movedAside = clearLockName(path);
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  try {
    const opened = fstatSync(fd);
    // Swapped in between the look and the open (by root alone: the directory is root's).
    if (!opened.isFile()) throw new Error(`${path}: the lock is not a regular file`);
    if ((opened.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const lock = take(path, fd);
  return lock && movedAside ? { ...lock, release: lock.release, movedAside } : lock;
}
