/**
 * Crash-safe file replacement: write a temporary file beside the target, fsync it, rename it over
 * the target, fsync the directory. A reader (or a crash) sees the old file or the new one, never a mix.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

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
  const dir = dirname(path);
  // Web Crypto's CSPRNG: node:crypto would cost milliseconds of module loading at every start.
  const tmp = join(dir, `.${basename(path)}.stagehand-${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")}`);
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    opts.mode & 0o7777,
  );
  try {
    const data = typeof content === "string" ? Buffer.from(content) : content;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    // Owner first: chown(2) clears setuid and setgid bits, so the mode is set after it. The
    // umask may have narrowed the create mode; set it exactly.
    if (opts.uid !== undefined || opts.gid !== undefined) fchownSync(fd, opts.uid ?? -1, opts.gid ?? -1);
    fchmodSync(fd, opts.mode & 0o7777);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  fsyncDir(dir);
}

/** fsync(2) a directory so a rename in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
