/**
 * Applies a plan: the changed files replaced atomically (all written under temporary names and
 * made durable, then renamed in write order, each directory fsynced once per run of renames in
 * it), an existing file's mode and owner kept (except /etc/shadow: always 0640 root:shadow),
 * nothing written when nothing changed; then home directories and nscd. Every path is resolved
 * inside the root.
 */
import { closeSync, constants, existsSync, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, unlinkSync } from "node:fs";
import { basename, delimiter, dirname, join } from "node:path";
import { fsyncDir } from "../fs/atomic.ts";
import { isTempName, stageFile, sweepTemps, syncStaged, type StagedFile } from "../fs/staged.ts";
import { isHostRoot } from "../fs/root.ts";
import { inRoot, readDatabases } from "./load.ts";
import { FILES, type FileKey, managedDirs } from "./files.ts";
import type { HomeDir, UsersPlanData } from "./plan.ts";

/** The files changed under our feet between planning and applying. */
export class ConcurrentChangeError extends Error {
  override name = "ConcurrentChangeError";
}

/** A directory that cannot be made inside the root (a file in the way, …). */
export class UsersWriteError extends Error {
  override name = "UsersWriteError";
}

/**
 * `mkdir -p` of the in-root directory `abs`, each component resolved inside `root` (a symlinked
 * `/etc` or `/home` under `--root DIR` leads into DIR, never out). Returns its host path.
 */
export function mkdirInRoot(root: string, abs: string, mode = 0o755): string {
  const full = inRoot(root, abs, true, abs);
  try {
    if (lstatSync(full).isDirectory()) return full; // the usual case: there already
  } catch { /* missing: made below */ }
  let prefix = "";
  for (const part of abs.split("/")) {
    if (part === "") continue;
    prefix += `/${part}`;
    const host = inRoot(root, prefix, true, prefix);
    try {
      mkdirSync(host, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new UsersWriteError(`cannot create ${prefix} inside ${root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      if (!lstatSync(host).isDirectory()) throw new UsersWriteError(`${prefix} inside ${root} is not a directory`);
    }
  }
  return inRoot(root, abs, true, abs);
}

/**
 * Removes the temporary files an earlier, killed run left beside the users step's files (only
 * theirs: /etc is shared with the etc step). Returns the in-root paths removed.
 */
export function sweepUsersTemps(root: string): string[] {
  const removed: string[] = [];
  for (const [dir, names] of managedDirs()) {
    const host = inRoot(root, dir, true, dir);
    for (const n of sweepTemps(host, names)) removed.push(`${dir}/${n}`);
  }
  return removed;
}

/**
 * Whether a killed run left a temporary file beside the users step's files (what sweepUsersTemps
 * would remove), found without taking the lock.
 */
export function hasUsersTemps(root: string): boolean {
  for (const [dir, names] of managedDirs()) {
    let entries: string[];
    try { entries = readdirSync(inRoot(root, dir, true, dir)); } catch { continue; }
    for (const e of entries) if (isTempName(e) && names.has(e.slice(1, e.lastIndexOf(".stagehand-")))) return true;
  }
  return false;
}

/** What /etc/shadow must be, on every run: root-owned, group `shadow` (0 without one), 0640. */
function shadowOwnership(plan: UsersPlanData): { mode: number; uid: number; gid: number } {
  return { mode: 0o640, uid: 0, gid: plan.shadowGid };
}

const asRoot = () => process.geteuid?.() === 0;

/** Replaces the changed files under `root`, in the plan's write order; enforces shadow's mode. */
export function writeDatabases(root: string, plan: UsersPlanData): void {
  // Nothing to write, nothing to protect: the files are not read again.
  const now = plan.changed.length === 0 ? plan.current : readDatabases(root);
  for (const k of Object.keys(FILES) as FileKey[]) {
    if (now[k] !== plan.current[k]) throw new ConcurrentChangeError(`/${FILES[k]} changed since the users plan was made; nothing written`);
  }
  const hostDirs = new Map<string, string>();
  const hostPath = (k: FileKey) => {
    const dir = `/${dirname(FILES[k])}`;
    let host = hostDirs.get(dir);
    if (host === undefined) hostDirs.set(dir, (host = mkdirInRoot(root, dir)));
    return join(host, basename(FILES[k]));
  };
  const shadow = shadowOwnership(plan);
  const staged: StagedFile[] = [];
  let published = 0;
  try {
    for (const k of plan.changed) staged.push(stageDatabase(hostPath(k), k, plan.next[k], shadow));
    // Every new file durable before any is published (one fsync each; syncfs from SYNCFS_FROM on).
    const failed = syncStaged(staged);
    for (const f of staged) {
      const e = failed.get(f);
      if (e) throw e;
    }
    // Published in the write order. A directory's renames are made durable before the next
    // directory's begin (and at the end): an ID map is on disk before a database using its IDs,
    // the databases before the declarative lists; a crash leaves each file old or new. Within
    // one directory (/etc's databases) the renames share one fsync: journaling file systems
    // (ext4, XFS, btrfs) persist them in order, which POSIX does not promise.
    for (let i = 0; i < staged.length; i++) {
      const f = staged[i]!;
      renameSync(f.tmp, f.path);
      published = i + 1;
      const dir = dirname(f.path);
      if (i === staged.length - 1 || dirname(staged[i + 1]!.path) !== dir) fsyncDir(dir);
    }
  } finally {
    // A failure midway: what was renamed is made durable (its directory's fsync may be pending),
    // the temporaries not renamed are removed (those syncStaged refused are gone).
    if (published > 0 && published < staged.length) {
      try { fsyncDir(dirname(staged[published - 1]!.path)); } catch { /* best effort: the error in flight says more */ }
    }
    for (let i = published; i < staged.length; i++) {
      try { unlinkSync(staged[i]!.tmp); } catch { /* gone */ }
    }
  }
  if (!plan.changed.includes("shadow") && plan.current.shadow !== null) enforceMode(hostPath("shadow"), shadow);
}

/**
 * Writes database `k`'s new content beside `path` under a temporary name, with the mode and owner
 * of the file it replaces (a new file: 0644 root:root; /etc/shadow: always `shadow`'s).
 */
function stageDatabase(path: string, k: FileKey, content: string, shadow: { mode: number; uid: number; gid: number }): StagedFile {
  let mode = 0o644;
  let uid: number | undefined = 0;
  let gid: number | undefined = 0;
  if (k === "shadow") ({ mode, uid, gid } = shadow);
  else {
    try {
      const st = lstatSync(path);
      if (st.isFile()) {
        mode = st.mode & 0o7777;
        uid = st.uid;
        gid = st.gid;
      }
    } catch { /* new file: 0644 root:root */ }
  }
  if (!asRoot()) uid = gid = undefined;
  // The temporary file is created with `mode` (0640 for shadow) and owned before it is filled
  // and renamed: never world-readable, not even while being written.
  return stageFile(path, Buffer.from(content), { mode, uid, gid });
}

/**
 * Gives the existing file at `path` (not followed if a link) the owner and mode wanted, as
 * update-users-groups.pl did for /etc/shadow on every run: owner first, then mode, so no step
 * grants more than the file already allowed or will allow.
 */
function enforceMode(path: string, want: { mode: number; uid: number; gid: number }): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return; // gone or a link: the next write replaces it
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return;
    if (asRoot() && (st.uid !== want.uid || st.gid !== want.gid)) fchownSync(fd, want.uid, want.gid);
    if ((st.mode & 0o7777) !== want.mode) fchmodSync(fd, want.mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates each home that is missing (parents included, all inside the root), then gives it the
 * declared owner and mode. An existing home that is a symlink or not a directory is left alone
 * with a warning: chown/chmod would act on whatever it points to. Returns false when a home
 * could not be made.
 */
export function ensureHomes(root: string, plan: UsersPlanData, warn: (l: string) => void): boolean {
  let ok = true;
  // Host paths below are the root's prefix and an in-root path without links; the kernel names an
  // open directory by the root's real path instead (see openedAt).
  const rootPrefix = root.replace(/\/+$/, "");
  let realPrefix: string | undefined;
  // Once a home was missing (a first run), the next ones are looked at with lstat before they are
  // made: a failed open(2) costs a thrown error, an lstat of nothing does not.
  let expectMissing = false;
  for (const h of plan.homes) {
    const parent = dirname(h.path);
    let path: string;
    let opened: number | string;
    try {
      path = join(inRoot(root, parent, true, parent), basename(h.path));
      // A home that is there (every home of a rerun) is opened at once, which judges what it is:
      // O_NOFOLLOW refuses a symlink at the home itself (never followed out of the root, to a host
      // path that could even hang). Only a missing one is made, then opened. (lstat, not
      // access(2), where one is asked: a link at the home is not followed either.)
      const missing = expectMissing && lstatSync(path, { throwIfNoEntry: false }) === undefined;
      opened = missing ? "ENOENT" : openHome(path);
      if (opened === "ENOENT" || (opened === "ENOTDIR" && lstatSync(path, { throwIfNoEntry: false }) === undefined)) {
        expectMissing = true;
        path = makeHome(root, parent, path, h);
        opened = openHome(path);
      }
    } catch (e) {
      warn(`warning: cannot create home directory ‘${h.path}’ of user ‘${h.user}’: ${(e as Error).message}`);
      ok = false;
      continue;
    }
    if (typeof opened === "string") {
      let link = opened === "ELOOP";
      try { link ||= lstatSync(path).isSymbolicLink(); } catch { /* gone */ }
      const what = link ? "it is a symbolic link" : opened === "ENOTDIR" ? "it is not a directory" : `it cannot be opened (${opened})`;
      warn(`warning: not changing the owner or mode of home directory ‘${h.path}’ of user ‘${h.user}’: ${what}`);
      continue;
    }
    const fd = opened;
    realPrefix ??= realpathSync(root).replace(/\/+$/, "");
    if (!openedAt(fd, realPrefix + path.slice(rootPrefix.length))) {
      closeSync(fd);
      warn(`warning: not changing the owner or mode of home directory ‘${h.path}’ of user ‘${h.user}’: a directory above it was replaced while it was set up`);
      ok = false;
      continue;
    }
    try {
      const st = fstatSync(fd);
      if (st.uid !== h.uid || st.gid !== h.gid) fchownSync(fd, h.uid, h.gid);
      // After the owner: chown clears setuid/setgid bits.
      if ((st.mode & 0o7777) !== h.mode || st.uid !== h.uid || st.gid !== h.gid) fchmodSync(fd, h.mode);
    } catch (e) {
      // One home that cannot be changed (a read-only mount, EPERM) does not stop the others.
      warn(`warning: cannot set the owner or mode of home directory ‘${h.path}’ of user ‘${h.user}’: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      ok = false;
    } finally {
      closeSync(fd);
    }
  }
  return ok;
}

/**
 * Whether the directory open at `fd` is the one at host path `expected` (which has no link in it).
 * O_NOFOLLOW guards only a path's last component; a parent of a home may belong to a user, who
 * could swap it for a link between the path's resolution and its open, and have root chown
 * whatever the link leads to. The kernel's own name for the descriptor says where it really is.
 */
function openedAt(fd: number, expected: string): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`) === expected;
  } catch {
    return false;
  }
}

/** Opens the directory at host path `path` without following a link there: its descriptor, or the error code. */
function openHome(path: string): number | string {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/**
 * Makes the missing home `h` at host path `path` (in-root parent `parent`) with one mkdir(2) beside
 * its resolved parent; the parents are walked (mkdir -p inside the root) only when that fails for a
 * missing or non-directory parent. Returns the home's host path.
 */
function makeHome(root: string, parent: string, path: string, h: HomeDir): string {
  const made = (at: string) => {
    try {
      mkdirSync(at, { mode: h.mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; // EEXIST: made meanwhile, or a dangling link: judged when opened
    }
  };
  try {
    made(path);
    return path;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
    // A parent is missing (made here, inside the root) or is not a directory (refused).
    const at = join(mkdirInRoot(root, parent), basename(h.path));
    made(at);
    return at;
  }
}

/** Tells a running nscd to forget cached passwd/group entries (only for the real root). */
export function invalidateNscd(root: string, plan: UsersPlanData, env: Record<string, string | undefined>): void {
  if (!isHostRoot(root) || !(plan.changed.includes("group") || plan.changed.includes("passwd"))) return;
  const nscd = (env.PATH ?? "").split(delimiter).map((d) => join(d, "nscd")).find((p) => existsSync(p));
  if (!nscd) return;
  for (const [key, db] of [["group", "group"], ["passwd", "passwd"]] as const) {
    if (!plan.changed.includes(key)) continue;
    // Bun.spawnSync, not node:child_process: that module costs milliseconds to load on every run.
    try {
      Bun.spawnSync([nscd, "--invalidate", db], { stdio: ["ignore", "ignore", "ignore"] });
    } catch {
      // Best effort, as before: an nscd that cannot be run has no cache to invalidate.
    }
  }
}
