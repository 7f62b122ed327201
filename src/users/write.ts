/**
 * Applies a plan: the changed files replaced atomically (all written under temporary names and
 * made durable, then renamed in write order, each directory fsynced once per run of renames in
 * it), an existing file's mode and owner kept (except /etc/shadow: always 0640 root:shadow),
 * nothing written when nothing changed; then home directories and nscd. Every path is resolved
 * inside the root.
 */
import { closeSync, constants, existsSync, fchmodSync, fchownSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, delimiter, dirname, join } from "node:path";
import { fsyncDir } from "../fs/atomic.ts";
import { brokenPathFor, isTempName, stageFile, sweepTemps, syncStaged, type StagedFile } from "../fs/staged.ts";
import { inRootPath, isHostRoot, resolveInRootTrusted } from "../fs/root.ts";
import { entryAt, kernelNames, openCheckedDirectory, REPLACED } from "../fs/dir-at.ts";
import { encodeKeepingBytes } from "../text/keep-bytes.ts";
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
 * `/etc` or `/home` under `--root DIR` leads into DIR, never out). A missing component is made by
 * descriptor in its checked parent (src/fs/dir-at.ts), so a parent swapped for a link after its
 * resolution cannot place it elsewhere. Returns its host path.
 */
export function mkdirInRoot(root: string, abs: string, mode = 0o755): string {
  const full = trustedInRoot(root, abs);
  try {
    if (lstatSync(full).isDirectory()) return full; // the usual case: there already
  } catch { /* missing: made below */ }
  let names: ((host: string) => string) | undefined;
  let prefix = "";
  for (const part of abs.split("/")) {
    if (part === "") continue;
    prefix += `/${part}`;
    const host = trustedInRoot(root, prefix);
    try {
      if (lstatSync(host).isDirectory()) continue;
    } catch { /* missing: made below */ }
    names ??= kernelNames(root);
    const parent = dirname(host);
    const via = viaLink(root, prefix, host);
    const fd = openCheckedDirectory(parent, names(parent));
    if (typeof fd === "string") {
      throw new UsersWriteError(`cannot create ${prefix} inside ${root}${via}: ${fd === REPLACED ? "a directory above it was replaced meanwhile" : fd === "ENOENT" ? `${inRootPath(root, parent)} does not exist (ENOENT)` : fd}`);
    }
    const at = entryAt(fd, basename(host));
    try {
      mkdirSync(at, { mode });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new UsersWriteError(`cannot create ${prefix} inside ${root}${via}: ${code ?? (e as Error).message}`);
      if (!lstatSync(at).isDirectory()) throw new UsersWriteError(`${prefix} inside ${root}${via} is not a directory`);
    } finally {
      closeSync(fd);
    }
  }
  return trustedInRoot(root, abs);
}

/** `" (reached as /T through a symlink)"` when `prefix` resolved through a link to the in-root `/T` (host path `host`): a dangling one is named so. */
function viaLink(root: string, prefix: string, host: string): string {
  const name = inRootPath(root, host);
  return name === prefix ? "" : ` (reached as ${name} through a symlink)`;
}

/**
 * The host path of the in-root directory `abs` where root makes and chowns things: links followed
 * inside the root only where they stand in root's own directories (resolveInRootTrusted). Throws
 * UsersWriteError saying why not.
 */
function trustedInRoot(root: string, abs: string): string {
  try {
    return resolveInRootTrusted(root, abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsersWriteError(code === "EPERM" ? (e as Error).message : `${abs} cannot be resolved inside ${root} (${code ?? (e as Error).message})`);
  }
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

/**
 * Replaces the changed files under `root`, in the plan's write order; enforces shadow's mode.
 * `meanwhile` (once, unless the files changed since planning) is work that needs none of the new
 * files: it runs while their fsyncs are in flight on the I/O threads, before any is published.
 */
export async function writeDatabases(root: string, plan: UsersPlanData, meanwhile?: () => void): Promise<void> {
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
  // A state file that was no ID map at all keeps its bytes beside it (NAME.broken-TIME, a second
  // link to the old file) before it is replaced: reported, and nothing lost.
  for (const k of plan.broken ?? []) {
    const at = hostPath(k);
    const aside = brokenPathFor(at);
    try { linkSync(at, aside); } catch { try { writeFileSync(aside, encodeKeepingBytes(plan.current[k] ?? ""), { mode: 0o600, flag: "wx" }); } catch { /* best effort */ } }
  }
  try {
    const early = plan.early ?? {};
    for (const [k, text] of Object.entries(early) as [FileKey, string][]) staged.push(stageDatabase(hostPath(k), k, text, shadow));
    for (const k of plan.changed) if (early[k] !== plan.next[k]) staged.push(stageDatabase(hostPath(k), k, plan.next[k], shadow));
    // Every new file durable before any is published (their fsyncs at once; syncfs from SYNCFS_FROM on).
    const syncing = syncStaged(staged);
    let failed: Map<StagedFile, Error>;
    try {
      meanwhile?.();
    } finally {
      failed = await syncing;
    }
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
  return stageFile(path, encodeKeepingBytes(content), { mode, uid, gid });
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
 *
 * Each home is made and opened by descriptor in its parent directory, opened once and checked to
 * be where it was resolved (src/fs/dir-at.ts): a parent that a user owns (`/home/alice/x` of
 * `/home/alice/x/svc`) swapped for a link in the meantime can neither receive the mkdir nor have
 * what it leads to chowned.
 */
export function ensureHomes(root: string, plan: UsersPlanData, warn: (l: string) => void): boolean {
  let ok = true;
  const parents = new HomeParents(root);
  // Once a home was missing (a first run), the next ones are made first, then opened: an open of
  // a missing home costs a thrown error.
  let expectMissing = false;
  try {
    for (const h of plan.homes) {
      const base = basename(h.path);
      let at = "";
      let opened: number | string;
      try {
        const dir = parents.open(dirname(h.path));
        if (dir === REPLACED) {
          warn(`warning: not changing the owner or mode of home directory ‘${h.path}’ of user ‘${h.user}’: a directory above it was replaced while it was set up`);
          ok = false;
          continue;
        }
        at = entryAt(dir, base);
        // O_NOFOLLOW: a symlink at the home itself is refused, never followed (out of the root,
        // or to a host path that could even hang).
        if (expectMissing) makeHome(at, h.mode);
        opened = openHome(at);
        if (opened === "ENOENT") {
          expectMissing = true;
          makeHome(at, h.mode);
          opened = openHome(at);
        }
      } catch (e) {
        warn(`warning: cannot create home directory ‘${h.path}’ of user ‘${h.user}’: ${(e as Error).message}`);
        ok = false;
        continue;
      }
      if (typeof opened === "string") {
        // O_NOFOLLOW|O_DIRECTORY answers ENOTDIR for a link, not only ELOOP.
        const what = isLink(opened, at) ? "it is a symbolic link" : opened === "ENOTDIR" ? "it is not a directory" : `it cannot be opened (${opened})`;
        warn(`warning: not changing the owner or mode of home directory ‘${h.path}’ of user ‘${h.user}’: ${what}`);
        continue;
      }
      const fd = opened;
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
  } finally {
    parents.close();
  }
  return ok;
}

/** At most this many parent directories are kept open at once (most homes share `/home`). */
const MAX_OPEN_PARENTS = 32;

/** The parent directories of homes, each resolved inside the root, made if missing, opened and checked once. */
class HomeParents {
  readonly #root: string;
  readonly #open = new Map<string, number>();
  #names: ((host: string) => string) | undefined;

  constructor(root: string) {
    this.#root = root;
  }

  /** The descriptor of the in-root directory `abs` (made where missing), or REPLACED. Throws UsersWriteError. */
  open(abs: string): number | typeof REPLACED {
    const known = this.#open.get(abs);
    if (known !== undefined) return known;
    const root = this.#root;
    this.#names ??= kernelNames(root);
    let host = trustedInRoot(root, abs);
    let fd = openCheckedDirectory(host, this.#names(host));
    if (fd === "ENOENT") {
      host = mkdirInRoot(root, abs);
      fd = openCheckedDirectory(host, this.#names(host));
    }
    // A link at the resolved path itself was put there after the resolution: a swapped parent.
    if (typeof fd === "string") {
      if (fd === REPLACED || isLink(fd, host)) return REPLACED;
      throw new UsersWriteError(fd === "ENOTDIR" ? `${abs} inside ${root} is not a directory` : `cannot open ${abs} inside ${root}: ${fd}`);
    }
    if (this.#open.size >= MAX_OPEN_PARENTS) this.close();
    this.#open.set(abs, fd);
    return fd;
  }

  close(): void {
    for (const fd of this.#open.values()) closeSync(fd);
    this.#open.clear();
  }
}

/** Whether an open with O_NOFOLLOW|O_DIRECTORY of `path` failed with `code` because a symlink is there. */
function isLink(code: string, path: string): boolean {
  if (code === "ELOOP") return true;
  if (code !== "ENOTDIR") return false;
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Opens the directory at `path` without following a link there: its descriptor, or the error code. */
function openHome(path: string): number | string {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/**
 * mkdir(2) of a home at `at` (reached through its parent's descriptor) with `mode`; true when made.
 * EEXIST is no error: a home made meanwhile, or something else there, which the open judges.
 */
function makeHome(at: string, mode: number): boolean {
  try {
    mkdirSync(at, { mode });
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    throw new UsersWriteError(code ?? (e as Error).message);
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
