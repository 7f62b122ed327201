/**
 * Reads what the planner needs from a root: the databases, the state files, hashed-password files.
 * Every path is resolved inside the root (src/fs/root.ts), so a symlinked `/etc`, `/var/lib/nixos`
 * or password file under `--root DIR` never leads out of DIR; every file is read only if it is a
 * regular file within a size cap (src/fs/read.ts), so a FIFO or a device never blocks or floods a run.
 */
import { InputFileError, MAX_BYTES, readRegularFileOptional } from "../fs/read.ts";
import { resolveInRoot } from "../fs/root.ts";
import { decodeKeepingBytes } from "../text/keep-bytes.ts";
import { FILES, type FileKey } from "./files.ts";
import type { CurrentFiles } from "./plan.ts";
import type { UsersSpec } from "./spec.ts";

/**
 * The host path of the in-root path `abs`, resolved inside `root` (the last component followed
 * when `followLast`). A link loop is an InputFileError naming `what`.
 */
export function inRoot(root: string, abs: string, followLast: boolean, what: string): string {
  try {
    return resolveInRoot(root, abs, followLast);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(abs, what, "unreadable", `cannot be resolved inside ${root} (${code ?? (e as Error).message})`);
  }
}

/** Reads the in-root file `abs` (links followed inside the root), or null when it does not exist. */
function readInRoot(root: string, abs: string, maxBytes: number, what: string): string | null {
  const path = inRoot(root, abs, true, what);
  // noFollow: the path is resolved already; a link swapped in meanwhile is refused, not followed.
  const content = readRegularFileOptional(path, { maxBytes, what, noFollow: true });
  // Bytes that are no UTF-8 (an admin's Latin-1 comment or GECOS) are kept, not replaced: they are
  // written back as they were when the file is rewritten.
  return content === undefined ? null : decodeKeepingBytes(content);
}

/** The current databases and state under `root`. */
export function readDatabases(root: string): Record<FileKey, string | null> {
  const files = {} as Record<FileKey, string | null>;
  for (const k of Object.keys(FILES) as FileKey[]) files[k] = readInRoot(root, `/${FILES[k]}`, MAX_BYTES.database, `/${FILES[k]}`);
  return files;
}

/**
 * Everything the planner reads for `spec` under `root`. A password file that is missing, or that
 * is not a regular file, too large or unreadable, is reported by the planner (a warning naming the
 * user and why) and that password left as it is: one user's file cannot stop every user and group
 * from being updated at every boot.
 */
export function readCurrent(root: string, spec: UsersSpec): CurrentFiles {
  const passwordFiles: CurrentFiles["passwordFiles"] = new Map();
  for (const u of spec.users) {
    if (u.hashedPasswordFile !== null && !passwordFiles.has(u.hashedPasswordFile)) {
      const what = `hashedPasswordFile of user ‘${u.name}’`;
      try {
        passwordFiles.set(u.hashedPasswordFile, readInRoot(root, u.hashedPasswordFile, MAX_BYTES.passwordFile, what));
      } catch (e) {
        if (!(e instanceof InputFileError)) throw e;
        passwordFiles.set(u.hashedPasswordFile, { refused: e.detail });
      }
    }
  }
  return { files: readDatabases(root), passwordFiles };
}
