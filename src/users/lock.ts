/**
 * The lock of the user databases: a write lock on `/etc/.pwd.lock` inside the root, the file and
 * the kind of lock (fcntl record lock) that glibc's lckpwdf(3) takes for passwd, useradd, chpasswd
 * and friends, so a password changed by hand during a switch is neither lost nor half-merged.
 * update-users-groups.pl took none ("FIXME: acquire lock").
 */
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { clearLockName } from "../fs/lock.ts";
import { ofdWriteLock } from "../fs/libc.ts";
import { mkdirInRoot } from "./write.ts";
import { PWD_LOCK } from "../etc/paths.ts";

/** The databases are locked by another program for longer than we wait. */
export class DatabaseLockedError extends Error {
  override name = "DatabaseLockedError";
}

/** How long to wait for another holder: lckpwdf's own timeout. */
const WAIT_MS = 15_000;
const POLL_MS = 50;

/** A held lock; `release` closes it (the lock also ends with the process). */
export interface DatabaseLock {
  /** Where something other than a regular file found at the lock's name was moved. */
  movedAside?: string;
  release(): void;
}

/**
 * Takes the lock of `root`'s user databases, creating `/etc` and the lock file (0600) inside the
 * root when missing; anything else at its name is moved aside (clearLockName). Waits at most WAIT_MS for another holder, then throws DatabaseLockedError.
 */
export function lockUserDatabases(root: string, waitMs = WAIT_MS): DatabaseLock {
  const path = `${mkdirInRoot(root, "/etc")}/${PWD_LOCK}`;
  let movedAside: string | undefined;
  let fd: number;
  try {
    movedAside = clearLockName(path);
    // O_NOFOLLOW: a link put at the lock's name meanwhile is refused, not followed; O_NONBLOCK: a
    // FIFO cannot block the open (Bun opens close-on-exec).
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY, 0o600);
    // Swapped in between the look and the open (by root alone: /etc is root's).
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new Error("not a regular file");
    }
  } catch (e) {
    throw new DatabaseLockedError(`cannot open /etc/.pwd.lock inside ${root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (let waited = 0; !ofdWriteLock(fd); waited += POLL_MS) {
    if (waited >= waitMs) {
      closeSync(fd);
      throw new DatabaseLockedError(`/etc/.pwd.lock inside ${root} is held by another program (passwd, useradd, …) for more than ${waitMs / 1000} s; nothing written`);
    }
    Bun.sleepSync(POLL_MS);
  }
  return { ...(movedAside ? { movedAside } : {}), release: () => closeSync(fd) };
}
