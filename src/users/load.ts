/** Reads what the planner needs from a root: the databases, the state files, hashed-password files. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FILES, type CurrentFiles, type FileKey } from "./plan.ts";
import type { UsersSpec } from "./spec.ts";

/** A file's text, or null when it does not exist. */
export function readOptional(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** The current databases and state under `root`. */
export function readDatabases(root: string): Record<FileKey, string | null> {
  const files = {} as Record<FileKey, string | null>;
  for (const k of Object.keys(FILES) as FileKey[]) files[k] = readOptional(join(root, FILES[k]));
  return files;
}

/** Everything the planner reads for `spec` under `root` (password file paths are inside the root). */
export function readCurrent(root: string, spec: UsersSpec): CurrentFiles {
  const passwordFiles = new Map<string, string | null>();
  for (const u of spec.users) {
    if (u.hashedPasswordFile !== null && !passwordFiles.has(u.hashedPasswordFile)) {
      passwordFiles.set(u.hashedPasswordFile, readOptional(join(root, u.hashedPasswordFile)));
    }
  }
  return { files: readDatabases(root), passwordFiles };
}
