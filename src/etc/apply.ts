/**
 * Carrying out an etc plan. Every replacement is a rename over the old name (a new symlink or a
 * temporary file created O_EXCL|O_NOFOLLOW beside it, durable first), so a declared file is never
 * missing and a symlink planted in /etc is replaced, never written through. One failed entry does
 * not stop the others; the result is non-zero if anything failed or was refused.
 *
 * Copies are staged: written under temporary names as their turn comes, made durable together
 * (one syncfs per file system when many, see src/fs/staged.ts), and renamed into place before the
 * obsolete files go; the directories changed are made durable once at the end. A run that changes
 * nothing writes and syncs nothing.
 *
 * Every path is resolved inside the root (src/fs/root.ts), /etc itself included. A run holds a
 * lock on the root's /etc and first sweeps what a killed run left (temporary names of
 * src/fs/staged.ts) from the directories it manages. Where a directory cannot be renamed (a
 * lower-layer directory of overlayfs gives EXDEV), one holding only links into /etc/static is
 * emptied and removed in place, as setup-etc.pl does, instead of being swapped atomically.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync,
  rmdirSync, rmSync, symlinkSync, unlinkSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { symlinkAtomic, writeFileAtomic } from "../fs/atomic.ts";
import { renameExchange } from "../fs/libc.ts";
import { tryLockExclusive } from "../fs/lock.ts";
import { MAX_BYTES, readRegularTextOptional } from "../fs/read.ts";
import { type StagedFile, stageFile, stillStaged, sweepTemps, syncDirs, syncStaged, tempPathFor } from "../fs/staged.ts";
import { CLEAN, formatClean } from "./clean.ts";
import { idTables, isFixedOwner, ownerInRange, resolveOwner } from "./owners.ts";
import { ETC_LOCK, parentName, STATIC } from "./paths.ts";
import { managedDirs } from "../users/files.ts";
import { resolveInRoot, withResolveCache } from "../fs/root.ts";
import { type EtcOp, type EtcPlan, opMessage } from "./plan.ts";
import { etcDirHostPath, etcHostPath, inStore, intoStatic } from "./state.ts";

/** Where messages go (setup-etc.pl prints all of them on stderr). */
export interface ApplyOutput {
  stderr(line: string): void;
  /** Called after each operation (progress; tests check invariants between operations). */
  afterOp?(op: EtcOp): void;
}

/**
 * The host path of `/etc/NAME` to write, chown or remove: parents resolved inside the root
 * (`etc`: /etc resolved), but never through a link into /etc/static, nor into the Nix store (a
 * direct-symlink directory, or any link that leads there): undefined then. A store path is
 * read-only on a running NixOS, not in the initrd's /sysroot nor under --root.
 */
function writablePath(root: string, name: string, etc?: string): string | undefined {
  const p = etcHostPath(root, name, false, etc);
  if (p === undefined) return undefined;
  return inStore(root, p) ? undefined : p;
}

/** writablePath, or an error naming the entry. */
function at(root: string, name: string, etc?: string): string {
  const p = writablePath(root, name, etc);
  if (p === undefined) throw new Error(`a directory above /etc/${name} is a link into /etc/static or the Nix store; nothing written there`);
  return p;
}

/**
 * Puts a new node at `path`, where a directory is now: made at a temporary name, then swapped in
 * (renameat2 RENAME_EXCHANGE), so the name is never missing; the old directory is removed after.
 */
function replaceAtomically(path: string, make: (tmp: string) => void): void {
  const tmp = tempPathFor(path, "new");
  make(tmp);
  swapOver(tmp, path);
}

/**
 * Puts the node at `tmp` in place of the directory at `path` (see replaceAtomically); the planner
 * found that directory holding only links into /etc/static. Without RENAME_EXCHANGE the old
 * directory is moved aside for a moment; where it cannot be renamed at all (overlayfs: EXDEV for a
 * directory of a lower layer) it is emptied and removed in place, then the new node renamed in.
 */
function swapOver(tmp: string, path: string): void {
  if (renameExchange(tmp, path) === undefined) {
    rmSync(tmp, { recursive: true, force: true });
    return;
  }
  const aside = tempPathFor(path, "old");
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    // The name is missing from here until the rename below (setup-etc.pl's rmtree, then symlink).
    if (!onlyStaticLinks(path)) throw new Error("it holds files other than links into /etc/static now; kept");
    removeStaticTree(path);
    renameSync(tmp, path);
    return;
  }
  renameSync(tmp, path);
  rmSync(aside, { recursive: true, force: true });
}

/** Whether the directory `dir` holds only links into /etc/static and directories of such (checked again before removing). */
function onlyStaticLinks(dir: string): boolean {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) { if (!intoStatic(readlinkSync(p))) return false; }
    else if (!st.isDirectory() || !onlyStaticLinks(p)) return false;
  }
  return true;
}

/**
 * Removes a directory that holds only links into /etc/static: links are unlinked and directories
 * rmdir'ed, so anything else that appeared meanwhile stops the removal (ENOTEMPTY) instead of
 * being deleted.
 */
function removeStaticTree(path: string): void {
  for (const d of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, d.name);
    if (lstatSync(p).isDirectory()) removeStaticTree(p);
    else if (d.isSymbolicLink() || lstatSync(p).isSymbolicLink()) unlinkSync(p);
  }
  rmdirSync(path);
}

/**
 * Applies `plan` to `root`; returns 0, or 1 when an entry was refused or an operation failed (the
 * other entries are still set up), when /etc/static could not be pointed at the new tree (then
 * nothing else is done), or when another run holds the lock on /etc.
 */
export async function applyEtc(root: string, plan: EtcPlan, out: ApplyOutput, replan?: () => EtcPlan): Promise<number> {
  // Nothing to write, print or sweep: no lock either (a run that writes nothing needs no exclusion,
  // and taking flock(2) loads bun:ffi, milliseconds of a no-op's run).
  if (isNoop(plan)) return 0;
  // Directories made 0755 whatever umask the caller has (NixOS's activate script sets 0022 before
  // setup-etc.pl; a builtin step runs in stagehand's own process).
  const umask = process.umask(0o022);
  try {
    return await applyEtcUnmasked(root, plan, out, replan);
  } finally {
    process.umask(umask);
  }
}

async function applyEtcUnmasked(root: string, plan: EtcPlan, out: ApplyOutput, replan?: () => EtcPlan): Promise<number> {
  // /etc itself resolved inside the root (`DIR/etc` may be a link), once: it is never replaced here.
  const etc = resolveInRoot(root, "/etc");
  /** Directories whose entries changed, made durable at the end. */
  const touched = new Set<string>();
  let lock;
  try {
    const madeEtc = mkdirSync(etc, { recursive: true, mode: 0o755 });
    if (madeEtc !== undefined) touched.add(dirname(madeEtc));
    lock = tryLockExclusive(join(etc, ETC_LOCK));
  } catch (e) {
    out.stderr(`error: cannot set up /etc: ${(e as Error).message}`);
    return 1;
  }
  if (!lock) {
    out.stderr(`error: another process is setting up /etc (it holds /etc/${ETC_LOCK}); nothing done`);
    return 1;
  }
  if (lock.movedAside) out.stderr(`warning: /etc/${ETC_LOCK} was not a regular file; moved to ${lock.movedAside}`);
  try {
    const clean = readCleanNow(root, etc);
    if (changedSincePlanned(etc, plan, clean.text)) {
      // Another run set up /etc between our planning and our lock: a plan from before would act
      // on a stale .clean (copies it made would go untracked). Planned again, under the lock.
      if (!replan) {
        out.stderr("error: another run changed /etc while this one was planned; nothing done");
        return 1;
      }
      plan = replan();
      if (isNoop(plan)) return 0;
    }
    sweepManagedDirs(root, etc, plan.dirs);
    return await applyLocked(root, etc, plan, out, touched, clean);
  } finally {
    lock.release();
  }
}

/** /etc/.clean as it is now, read once under the lock. */
interface CleanNow {
  /** Its text; empty when missing or unreadable (the plan reported why). */
  text: string;
  /** Whether a directory stands there: not ours to replace (nor can a rename), so never written. */
  inTheWay: boolean;
}

/** Reads /etc/.clean as planning reads it (a link followed inside the root). */
function readCleanNow(root: string, etc: string): CleanNow {
  try {
    return { text: readRegularTextOptional(resolveInRoot(root, `/etc/${CLEAN}`), { maxBytes: MAX_BYTES.database, what: `/etc/${CLEAN}`, noFollow: true }) ?? "", inTheWay: false };
  } catch {
    return { text: "", inTheWay: lstatSync(join(etc, CLEAN), { throwIfNoEntry: false })?.isDirectory() ?? false };
  }
}

/** Whether /etc/.clean (`clean`, its text now) or /etc/static differ from what `plan` was made from (see EtcPlan.seen). */
function changedSincePlanned(etc: string, plan: EtcPlan, clean: string): boolean {
  if (plan.seen === undefined) return false;
  let target: string | undefined;
  try { target = readlinkSync(join(etc, STATIC)); } catch { /* none, or not a link */ }
  return clean !== plan.seen.clean || target !== plan.seen.static;
}

/**
 * Whether applying `plan` would change nothing: no operation but an unchanged `.clean`, and no
 * directory where a killed run's temporaries may be left (the planner's walk saw none).
 */
export function isNoop(plan: EtcPlan): boolean {
  return plan.dirs.length === 0 && plan.ops.every((op) => op.op === "clean" && !op.changed);
}

/**
 * Removes the temporary files a killed run left in the directories this run manages (under the
 * lock, so none is another run's). A directory that is a link into /etc/static is the store's, not
 * ours, and is skipped; one that is another link is swept where it leads, inside the root.
 */
function sweepManagedDirs(root: string, etc: string, dirs: readonly string[]): void {
  for (const dir of dirs) {
    let host: string | undefined;
    try { host = dir === "" ? etc : etcDirHostPath(root, dir, false, etc); } catch { continue; }
    if (host !== undefined) sweepTemps(host, dir === "" ? notUsersFile : undefined);
  }
}

/** The users step's files in /etc (passwd, shadow, …), known once a temporary is found in /etc. */
let usersFiles: ReadonlySet<string> | undefined;

/**
 * Whether a temporary in /etc itself is ours to sweep: not one of the users step's files, which
 * that step sweeps under its own lock (a concurrent `stagehand users` may be writing it now).
 */
function notUsersFile(target: string): boolean {
  usersFiles ??= managedDirs().get("/etc") ?? new Set();
  return !usersFiles.has(target);
}

/** Applies the plan under the lock; see applyEtc for the status. */
function applyLocked(root: string, etc: string, plan: EtcPlan, out: ApplyOutput, touched: Set<string>, clean: CleanNow): Promise<number> {
  return new EtcApply(root, etc, out, touched, clean).run(plan);
}

type CopyOp = Extract<EtcOp, { op: "copy" }>;

/**
 * One run's application of a plan, in setup-etc.pl's order: /etc/.clean widened first, then each
 * operation; copies are staged and published in batches (made durable before any is renamed in),
 * directories that replace links are built aside and swapped in once complete.
 */
class EtcApply {
  private status = 0;
  /** Names whose directory is to be swapped in place of something else: name -> [where it is built, its final place]. */
  private readonly pendingDirs = new Map<string, { tmp: string; final: string }>();
  /** Names where a directory of static links is to be replaced by a link or a copy. */
  private readonly replacingDirs = new Set<string>();
  /** Copies written under temporary names, not yet durable nor in place. */
  private readonly staged: { op: CopyOp; file: StagedFile; replacingDir: boolean }[] = [];
  /** Copies in place (their owners are settled against the new passwd and group). */
  private readonly copies: CopyOp[] = [];
  /**
   * Directories this run made (or found made) by a mkdir operation: name -> host path. Nothing
   * this run does later replaces them, so the entries made inside them need no resolution of
   * their parents again (an lstat per level per entry on a first run).
   */
  private readonly madeDirs = new Map<string, string>();
  private readonly cleanPath: string;
  private readonly oldClean: string;
  /** Whether a directory stands where /etc/.clean goes (then it is left, and not written). */
  private readonly cleanInTheWay: boolean;

  /** `touched`: directories whose entries changed, made durable at the end; `clean`: /etc/.clean now. */
  constructor(private readonly root: string, private readonly etc: string, private readonly out: ApplyOutput, private readonly touched: Set<string>, clean: CleanNow) {
    this.cleanPath = join(etc, CLEAN);
    this.oldClean = clean.text;
    this.cleanInTheWay = clean.inTheWay;
  }

  async run(plan: EtcPlan): Promise<number> {
    this.recordNewCopies(plan);
    for (const op of plan.ops) {
      // Every entry is in place once the obsolete copies' turn comes.
      if (op.op === "remove-file" || op.op === "clean") { await this.publishCopies(); this.swapInPendingDirs(); }
      const msg = opMessage(op);
      if (msg !== undefined) this.out.stderr(msg);
      try {
        if (!this.apply(op)) return 1;
      } catch (e) {
        const name = "name" in op ? `/etc/${op.name}` : op.op === "static" ? `/etc/${STATIC}` : op.op;
        this.fail(`${op.op} ${name}`, e);
      }
      this.out.afterOp?.(op);
      // Owners again, now that every file is in place: /etc/passwd and /etc/group may be among them.
      if (op.op === "clean") this.status = Math.max(this.status, settleOwners(this.root, this.copies, this.out));
    }
    await this.publishCopies();
    this.swapInPendingDirs();
    await syncDirs(this.touched);
    return this.status;
  }

  /**
   * Widens /etc/.clean by the copies about to be written, before any is, so a crash leaves none
   * untracked. Not by a name where an admin's own file or link still is (`foreign`): a crash
   * before the copy replaced it, then a rollback, would remove the admin's file as obsolete. Such a
   * name is tracked by the final .clean, once the copy is in place.
   */
  private recordNewCopies(plan: EtcPlan): void {
    const cleanOp = plan.ops.find((o) => o.op === "clean") as Extract<EtcOp, { op: "clean" }> | undefined;
    if (!cleanOp?.changed || this.cleanInTheWay) return;
    const foreign = new Set(plan.ops.filter((o) => (o.op === "copy" || o.op === "link") && o.foreign).map((o) => (o as { name: string }).name));
    const union = formatClean([...this.oldClean.split("\n").filter((l) => l !== ""), ...cleanOp.names.filter((n) => !foreign.has(n))]);
    if (union !== this.oldClean) {
      try { writeFileAtomic(this.cleanPath, union, { mode: 0o644 }); } catch (e) { this.fail(`cannot write /etc/${CLEAN}`, e); }
    }
  }

  /** Carries out one operation; false when the run must stop (/etc/static could not be pointed at the new tree). */
  private apply(op: EtcOp): boolean {
    switch (op.op) {
      case "static":
        try {
          symlinkAtomic(op.target, join(this.etc, STATIC));
        } catch (e) {
          // Every link made now would lead into the old tree or nowhere: stop, as setup-etc.pl dies.
          this.fail(`cannot point /etc/${STATIC} at ${op.target}; nothing else done`, e);
          return false;
        }
        this.touched.add(this.etc);
        break;
      case "remove-link":
        this.removeLink(op);
        break;
      case "replace-dir":
        this.replacingDirs.add(op.name);
        break;
      case "file-to-dir":
        this.fileToDirectory(op.name);
        break;
      case "mkdir":
        this.mkdir(op.name);
        break;
      case "link": {
        const p = this.place(op.name);
        if (this.replacingDirs.delete(op.name)) replaceAtomically(p, (tmp) => symlinkSync(op.target, tmp));
        else symlinkAtomic(op.target, p);
        this.touched.add(dirname(p));
        break;
      }
      case "copy": {
        const file = stageFile(this.place(op.name), op.content, { mode: op.mode, uid: op.uid, gid: op.gid });
        this.staged.push({ op, file, replacingDir: this.replacingDirs.delete(op.name) });
        break;
      }
      case "remove-file": {
        // Under a link now (into /etc/static, a store source): the copy went with the directory the
        // link replaced, and what the link leads to is not ours to remove.
        const p = writablePath(this.root, op.name, this.etc);
        if (p === undefined) break;
        let st;
        try { st = lstatSync(p); } catch { break; }
        if (!st.isDirectory()) { unlinkSync(p); this.touched.add(dirname(p)); }
        break;
      }
      case "clean": {
        // Unchanged since planning (and not rewritten above, which only happens when changed): no write.
        const text = formatClean(op.names);
        if ((op.changed || text !== this.oldClean) && !this.cleanInTheWay) writeFileAtomic(this.cleanPath, text, { mode: 0o644 });
        break;
      }
      case "tag":
        try {
          closeSync(openSync(join(this.etc, "NIXOS"), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644));
          this.touched.add(this.etc);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        break;
      case "warn":
        break;
      case "error":
        this.status = 1;
        break;
    }
    return true;
  }

  /** A link found by the walk of /etc through real directories, resolved again inside the root. */
  private removeLink(op: Extract<EtcOp, { op: "remove-link" }>): void {
    const p = resolveInRoot(this.root, `/etc/${op.name}`, false);
    // Gone already (another run removed it since this one planned): nothing left to do.
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (op.insideReplacedDir || st === undefined || !st.isSymbolicLink()) return;
    if (op.toDirectory) {
      // The link stays (it leads into the new tree meanwhile) until its directory is complete.
      const tmp = tempPathFor(p, "dir");
      mkdirSync(tmp, { mode: 0o755 });
      this.pendingDirs.set(op.name, { tmp, final: p });
    } else {
      unlinkSync(p);
      this.touched.add(dirname(p));
    }
  }

  /**
   * Starts the directory that replaces this step's copy or direct link `/etc/NAME`: built aside,
   * swapped in once complete (swapInPendingDirs), so the name never goes missing. A directory
   * found there meanwhile is used as it is.
   */
  private fileToDirectory(name: string): void {
    const p = at(this.root, name, this.etc);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st !== undefined && st.isDirectory()) return;
    if (st === undefined) {
      this.mkdir(name);
      return;
    }
    const tmp = tempPathFor(p, "dir");
    mkdirSync(tmp, { mode: 0o755 });
    this.pendingDirs.set(name, { tmp, final: p });
  }

  private mkdir(name: string): void {
    if (this.pendingDirs.has(name)) return;
    const p = this.place(name);
    try {
      mkdirSync(p, { mode: 0o755 });
      this.touched.add(dirname(p));
    } catch (e) {
      // Made meanwhile (or by an earlier run's crash): fine if it is a directory. Its entries are
      // placed by resolving their path, as a directory this run did not make.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !lstatSync(p).isDirectory()) throw e;
      return;
    }
    this.madeDirs.set(name, p);
  }

  /** Where `name` is built now: inside a directory being built aside, or its place in /etc. */
  private place(name: string): string {
    for (const [dir, { tmp }] of this.pendingDirs) {
      if (name === dir) return tmp;
      if (name.startsWith(`${dir}/`)) return `${tmp}${name.slice(dir.length)}`;
    }
    const parent = parentName(name);
    const made = parent === "" ? undefined : this.madeDirs.get(parent);
    if (made !== undefined) return `${made}/${name.slice(parent.length + 1)}`;
    return at(this.root, name, this.etc);
  }

  /** Swaps each directory built aside in place of the link it replaces. */
  private swapInPendingDirs(): void {
    for (const [name, { tmp, final }] of this.pendingDirs) {
      try {
        if (renameExchange(tmp, final) === undefined) unlinkSync(tmp);
        else { unlinkSync(final); renameSync(tmp, final); }
        this.touched.add(dirname(final));
        // Directories changed inside it are now found under its final name.
        for (const dir of [...this.touched]) {
          if (dir === tmp || dir.startsWith(`${tmp}/`)) { this.touched.delete(dir); this.touched.add(final + dir.slice(tmp.length)); }
        }
      } catch (e) { this.fail(`cannot put the directory /etc/${name} in place`, e); }
    }
    this.pendingDirs.clear();
    // Directories made inside those now have other names.
    this.madeDirs.clear();
  }

  /** Makes the staged copies durable, then renames each into place (none is renamed before all are durable). */
  private async publishCopies(): Promise<void> {
    const failed = await syncStaged(this.staged.map((s) => s.file));
    for (const { op, file, replacingDir } of this.staged) {
      const error = failed.get(file);
      try {
        if (error) throw error;
        // A directory of /etc may be a user's, who could put something else at the temporary name.
        if (!stillStaged(file)) throw new Error("its temporary file was replaced meanwhile; not published");
        if (replacingDir) swapOver(file.tmp, file.path);
        else renameSync(file.tmp, file.path);
        this.touched.add(dirname(file.path));
        this.copies.push(op);
      } catch (e) {
        try { unlinkSync(file.tmp); } catch { /* already gone */ }
        this.fail(`copy /etc/${op.name}`, e);
      }
    }
    this.staged.length = 0;
  }

  private fail(what: string, e: unknown): void {
    this.out.stderr(`error: ${what}: ${(e as Error).message}`);
    this.status = 1;
  }
}

/**
 * Re-resolves the owners of the copies just written against the target root's etc/passwd and
 * etc/group as they now are, fixing owner and mode where they differ (normally nothing to do).
 */
function settleOwners(root: string, written: Extract<EtcOp, { op: "copy" }>[], out: ApplyOutput): number {
  // A copy owned by `+N` ids was given exactly those when written: nothing to settle.
  const copies = written.filter((c) => !isFixedOwner(c.user) || !isFixedOwner(c.group));
  if (copies.length === 0) return 0;
  // The root's passwd and group, resolved inside it; unreadable or refused: the planned owners stay.
  const read = (f: string) => {
    try { return readRegularTextOptional(resolveInRoot(root, f), { maxBytes: MAX_BYTES.database, what: f, noFollow: true }) ?? ""; } catch { return ""; }
  };
  const ids = idTables(read("/etc/passwd"), read("/etc/group"));
  let status = 0;
  // Only owners and modes change from here on, never a link or a directory: resolution may be memoised.
  withResolveCache(() => {
    for (const c of copies) {
      try {
        const p = at(root, c.name);
        const inRange = (id: number | undefined) => (id !== undefined && ownerInRange(id) ? id : undefined);
        const uid = inRange(resolveOwner(c.user, ids.users)) ?? c.uid;
        const gid = inRange(resolveOwner(c.group, ids.groups)) ?? c.gid;
        // Changed through a descriptor of the file itself: a link swapped in meanwhile is not followed.
        // Opened only when a regular file is there (opening a device can have effects); the fstat
        // below judges what was opened, should it have been swapped after this look.
        if (!lstatSync(p, { throwIfNoEntry: false })?.isFile()) continue;
        let fd: number;
        try {
          fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ELOOP") continue;
          throw e;
        }
        try {
          const st = fstatSync(fd);
          if (!st.isFile()) continue;
          if (st.uid !== uid || st.gid !== gid) fchownSync(fd, uid, gid);
          // chown clears setuid/setgid bits, so the mode is set after it.
          if ((st.mode & 0o7777) !== c.mode || st.uid !== uid || st.gid !== gid) fchmodSync(fd, c.mode);
        } finally {
          closeSync(fd);
        }
      } catch (e) {
        out.stderr(`error: cannot set the owner of /etc/${c.name}: ${(e as Error).message}`);
        status = 1;
      }
    }
  });
  return status;
}
