/**
 * Replacing many files crash-safely at the cost of a few journal commits instead of one per file.
 * writeFileAtomic makes one file durable with its own fsync before its rename; for hundreds of
 * files (a first `etc` run) those fsyncs are most of the run. Here every new file is first written
 * under a temporary name beside its target (stageFile), all of them are made durable together
 * (syncStaged), and only then does the caller rename them over their targets.
 *
 * Why that keeps the guarantee of fsync-then-rename: syncfs(2) writes back and waits for all dirty
 * data and inodes of one file system and commits its journal, so when it returns success every
 * staged file on that file system is on disk exactly as fsync would have left it. No rename has
 * happened yet, so a crash at any point before leaves every target as it was (at worst a stray
 * temporary file), and a rename that survives a crash names a complete file, never an empty one.
 * syncfs reports write-back errors since Linux 5.8; when it fails, each file is fsynced instead, so
 * a file that cannot be made durable is reported and never published. Directory entries (the
 * renames themselves) are made durable afterwards by syncDirs, as fsyncing each directory does.
 *
 * A few files are fsynced each: syncfs also writes back unrelated dirty data of the file system
 * (e.g. a store just built), which only pays off when it replaces many fsyncs. Those fsyncs run at
 * once, on the runtime's I/O threads: a journaling file system commits concurrent fsyncs together
 * (ext4's group commit), so ten took here about as long as three or four one after another, and a
 * slow disk or SD card waits for fewer commits.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsync, fsyncSync, lstatSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { syncfs } from "./libc.ts";

/** From how many files (or directories) one syncfs per file system replaces fsyncing each. */
export const SYNCFS_FROM = 16;

let tempTag: string | undefined;
let tempCount = 0;

/**
 * A fresh suffix for a temporary name: random per process (Web Crypto's CSPRNG; node:crypto would
 * cost milliseconds of loading) plus a counter. Temporary names are created exclusively (O_EXCL,
 * symlink(2)), so a clash fails rather than following anything; the randomness only avoids clashes.
 */
export function tempSuffix(): string {
  tempTag ??= Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex");
  return `${tempTag}${(++tempCount).toString(36)}`;
}

/** The longest name of a directory entry (NAME_MAX), in bytes. */
const NAME_MAX = 255;

/**
 * The one temporary-name scheme of stagehand: `.NAME.stagehand-[TAG-]SUFFIX` beside the target
 * (same directory, so the rename stays on one file system). `tag` says what kind of temporary
 * it is (e.g. a link or a directory being swapped in); sweepTemps recognises every kind. A NAME
 * too long for the scheme to fit NAME_MAX bytes is cut (whole characters), so a legal target name
 * of up to 255 bytes can still be replaced atomically; the name stays one sweepTemps recognises.
 */
export function tempPathFor(path: string, tag?: string): string {
  const suffix = `.stagehand-${tag ? `${tag}-` : ""}${tempSuffix()}`;
  let base = basename(path);
  const room = NAME_MAX - 1 - Buffer.byteLength(suffix);
  if (Buffer.byteLength(base) > room) {
    let cut = "";
    for (const ch of base) {
      if (Buffer.byteLength(cut + ch) > room) break;
      cut += ch;
    }
    base = cut;
  }
  return join(dirname(path), `.${base}${suffix}`);
}

/** A name made by tempPathFor: a dot, the target's name, `.stagehand-`, an optional tag, the suffix. */
const TEMP_NAME = /^\..+\.stagehand-(?:[a-z]+-)?[0-9a-f]{12}[0-9a-z]+$/;

/**
 * Whether `name` (a base name) is one of stagehand's temporary names. Asked of every entry of /etc:
 * a name not starting with a dot is answered by one character, without the regular expression.
 */
export function isTempName(name: string): boolean {
  return name.charCodeAt(0) === 0x2e && TEMP_NAME.test(name);
}

/**
 * Where a file of ours found unusable at `path` (a FIFO as a lock, a list or map that does not
 * parse) is kept for the admin instead of being lost or failing every run: `PATH.broken-TIME`.
 * Not a temporary name: never swept.
 */
export function brokenPathFor(path: string): string {
  return `${path}.broken-${Date.now()}`;
}

/**
 * Moves what is at `path` to brokenPathFor(path) unless `keep` accepts it (looked at with lstat,
 * never opened or followed); returns where, or undefined when nothing was moved (nothing there, or
 * kept). For a name of ours where something else would make every later run fail. Throws when it
 * cannot be moved.
 */
export function moveAsideUnless(path: string, keep: (st: Stats) => boolean): string | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined || keep(st)) return undefined;
  const aside = brokenPathFor(path);
  renameSync(path, aside);
  return aside;
}

/**
 * Removes what an earlier run killed mid-way left in `dir`: every entry named by tempPathFor
 * (files, links, and directories with their content). Runs at the start of a run, in exactly the
 * directories that run manages, under that run's lock; with `targets` (base names, or a test of
 * a base name), only the temporaries of those files. Returns the names removed; a missing `dir`
 * has none. A symlink is removed as a link, never followed.
 */
export function sweepTemps(dir: string, targets?: ReadonlySet<string> | ((target: string) => boolean)): string[] {
  const wanted = typeof targets === "function" ? targets : targets && ((t: string) => targets.has(t));
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const removed: string[] = [];
  for (const name of names) {
    if (!isTempName(name)) continue;
    // Only the temporaries of these targets, where another step manages the rest of `dir`.
    if (wanted && !wanted(name.slice(1, name.lastIndexOf(".stagehand-")))) continue;
    const path = join(dir, name);
    try {
      if (lstatSync(path).isDirectory()) rmSync(path, { recursive: true, force: true });
      else unlinkSync(path);
      removed.push(name);
    } catch { /* gone meanwhile */ }
  }
  return removed;
}

/** A new file written under a temporary name beside its target, not yet durable nor published. */
export interface StagedFile {
  /** The temporary name (in the target's directory, so the rename stays on one file system). */
  tmp: string;
  /** The target it is to be renamed over. */
  path: string;
  /** The file system holding it (st_dev). */
  dev: number;
  /** Its inode: what is fsynced by name must still be this file. */
  ino: number;
}

/**
 * Writes `content` to a new temporary file beside `path`, created O_EXCL|O_NOFOLLOW (a symlink
 * planted at its name is refused, never followed), mode and owner set on the descriptor.
 */
export function stageFile(path: string, content: Uint8Array, opts: { mode: number; uid?: number; gid?: number }): StagedFile {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode & 0o7777);
  let written = false;
  try {
    let off = 0;
    while (off < content.length) off += writeSync(fd, content, off, content.length - off);
    if (opts.uid !== undefined || opts.gid !== undefined) fchownSync(fd, opts.uid ?? -1, opts.gid ?? -1);
    // After the owner (chown clears setuid/setgid), and exactly (the umask narrowed the create mode).
    fchmodSync(fd, opts.mode & 0o7777);
    const st = fstatSync(fd);
    const staged = { tmp, path, dev: st.dev, ino: st.ino };
    written = true;
    return staged;
  } finally {
    closeSync(fd);
    if (!written) try { unlinkSync(tmp); } catch { /* already gone */ }
  }
}

/**
 * Opens a file or directory by name to fsync it: non-blocking and judged by fstat, since where the
 * directory is a user's, the name may be swapped for a FIFO (whose open would wait for ever) or
 * another file; `ino`, when given, is the inode it must still be. Returns the descriptor.
 */
function openToSync(path: string, flags: number, ino?: number): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | flags);
  try {
    const st = fstatSync(fd);
    if (ino !== undefined && (!st.isFile() || st.ino !== ino)) throw new Error(`${path}: replaced by another file before it was made durable`);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** fsync(2) of a file or directory by name (see openToSync), waiting here. */
function fsyncPath(path: string, flags: number, ino?: number): void {
  const fd = openToSync(path, flags, ino);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** fsync(2) of a file or directory by name (see openToSync) on the runtime's I/O threads, so several run at once. */
async function fsyncPathConcurrently(path: string, flags: number, ino?: number): Promise<void> {
  const fd = openToSync(path, flags, ino);
  try {
    await new Promise<void>((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
  } finally {
    closeSync(fd);
  }
}

/** syncfs(2) of the file system holding `path`. */
function syncfsAt(path: string): boolean {
  let fd: number;
  try { fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY); } catch { return false; }
  try { return syncfs(fd); } finally { closeSync(fd); }
}

/**
 * Makes items durable: each by `fsyncOne` (all at once) when few, else one syncfs per file system
 * (by way of `dirOf` an item; `devOf` undefined: gone, skipped), falling back to `fsyncOne` for
 * the items of a file system where it fails. Resolves to the items that could not be made
 * durable, with the error.
 */
async function syncAll<T>(items: T[], devOf: (t: T) => number | undefined, dirOf: (t: T) => string, fsyncOne: (t: T) => Promise<void>): Promise<Map<T, Error>> {
  const failed = new Map<T, Error>();
  const each = (list: T[]) => Promise.all(list.map(async (t) => { try { await fsyncOne(t); } catch (e) { failed.set(t, e as Error); } }));
  if (items.length < SYNCFS_FROM) {
    await each(items);
    return failed;
  }
  const byDev = new Map<number, T[]>();
  for (const t of items) {
    const dev = devOf(t);
    if (dev === undefined) continue;
    const list = byDev.get(dev);
    if (list) list.push(t);
    else byDev.set(dev, [t]);
  }
  for (const list of byDev.values()) {
    if (!syncfsAt(dirOf(list[0]!))) await each(list);
  }
  return failed;
}

/**
 * Whether the temporary name of `f` still holds the file staged there (a regular file, same inode):
 * checked before it is renamed into place where its directory may be a user's.
 */
export function stillStaged(f: StagedFile): boolean {
  const st = lstatSync(f.tmp, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && st.ino === f.ino && st.dev === f.dev;
}

/**
 * Makes staged files durable before any is published. Resolves to those that could not be, with
 * the error; their temporary files are removed, so the caller must not rename them.
 */
export async function syncStaged(files: StagedFile[]): Promise<Map<StagedFile, Error>> {
  const failed = await syncAll(files, (f) => f.dev, (f) => dirname(f.tmp), (f) => fsyncPathConcurrently(f.tmp, 0, f.ino));
  for (const f of failed.keys()) {
    try { unlinkSync(f.tmp); } catch { /* already gone */ }
  }
  return failed;
}

/**
 * Makes one staged file durable here and now (a file replaced alone: nothing to overlap its fsync
 * with). Throws when it cannot be, its temporary file removed.
 */
export function syncStagedFile(f: StagedFile): void {
  try {
    fsyncPath(f.tmp, 0, f.ino);
  } catch (e) {
    try { unlinkSync(f.tmp); } catch { /* already gone */ }
    throw e;
  }
}

/**
 * Makes the entries of directories durable (renames, links and removals in them): fsync of each,
 * or one syncfs per file system when many. Directories gone meanwhile are skipped.
 */
export async function syncDirs(dirs: Iterable<string>): Promise<void> {
  const devOf = (dir: string) => { try { return statSync(dir).dev; } catch { return undefined; } };
  // Errors are ignored as before: a directory removed meanwhile needs nothing.
  await syncAll([...dirs], devOf, (dir) => dir, (dir) => fsyncPathConcurrently(dir, constants.O_DIRECTORY));
}
