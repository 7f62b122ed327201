/**
 * Crash-safe file replacement: write a temporary file beside the target, fsync it, rename it over
 * the target, fsync the directory. A reader (or a crash) sees the old file or the new one, never a mix.
 */
import { closeSync, constants, fsyncSync, openSync, renameSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { stageFile, syncStagedFile, tempPathFor } from "./staged.ts";

export interface AtomicWriteOptions {
  /** Permission bits of the new file. */
  mode: number;
  /** Owner; left to the process's own when undefined. */
  uid?: number;
  gid?: number;
}

/**
 * Replaces `path` with `content`. The temporary file is created with O_EXCL|O_NOFOLLOW, so a symlink
 * planted at its name is refused rather than followed; rename(2) replaces a link at `path` itself
 * instead of writing through it.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array, opts: AtomicWriteOptions): void {
  // The staging of a batch, for one file: written beside the target, made durable (one file is
  // fsynced, not syncfs'd), then renamed over it.
  const staged = stageFile(path, typeof content === "string" ? Buffer.from(content) : content, opts);
  syncStagedFile(staged);
  try {
    renameSync(staged.tmp, path);
  } catch (e) {
    try { unlinkSync(staged.tmp); } catch { /* already gone */ }
    throw e;
  }
  fsyncDir(dirname(path));
}

/** fsync(2) a directory so a rename in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Points the symlink `path` at `target`, replacing whatever non-directory is there in one rename:
 * a reader sees the old link or the new one, never none. Made durable with `durable` (the
 * directory fsynced); callers that batch many links sync their directories once instead.
 */
export function symlinkAtomic(target: string, path: string, durable = false): void {
  try {
    symlinkSync(target, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const tmp = tempPathFor(path, "link");
    symlinkSync(target, tmp);
    try {
      renameSync(tmp, path);
    } catch (e2) {
      try { unlinkSync(tmp); } catch { /* gone */ }
      throw e2;
    }
  }
  if (durable) fsyncDir(dirname(path));
}
