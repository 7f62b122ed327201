/**
 * Loading what /etc looks like now, for the planner: the links into /etc/static, what sits at
 * each name the new tree declares, `.clean`, and the owner tables. Reads only; the result is data.
 */
import { type Dirent, lstatSync, readdirSync, readlinkSync, statSync, type Stats } from "node:fs";
import { CLEAN, parseClean } from "./clean.ts";
import { type IdTables, idTables } from "./owners.ts";
import { parentName, STATIC, STATIC_PREFIX } from "./paths.ts";
import { canonicalInRoot, inRootPath, isSymlinkAt, knownMissingAt, noteLinkTargetAt, knownRegularAt, linkTargetAt, memoised, noteRegularAt, noteSymlinkAt, resolveInRoot } from "../fs/root.ts";
import { sortStringsBytewise } from "../text/bytewise.ts";
import { InputFileError, MAX_BYTES, readRegularFileOptional, readRegularTextOptional } from "../fs/read.ts";
import { isTempName } from "../fs/staged.ts";
import { type EtcEntry, type EtcTree } from "./tree.ts";

/** What is at `/etc/NAME`. `none` also covers a name under a link into /etc/static (cleanup removes it). */
export interface NodeState {
  type: "none" | "file" | "link" | "dir" | "other";
  linkTarget?: string;
  /**
   * For a link not into /etc/static: whether it leads (inside the root) to a directory. A link into
   * /etc/static is always replaced or removed, so where it leads is never asked (nor resolved).
   */
  leadsToDir?: boolean;
  /**
   * For a link leading to a directory: whether that directory is in the Nix store (an admin's link
   * there, or an old direct link): nothing is written below it, so its entries are refused.
   */
  intoStore?: boolean;
  /**
   * For a directory where the tree declares a link or a copy: whether it holds only links into
   * /etc/static (and such directories). Not looked into where the tree declares a directory too.
   */
  onlyStatic?: boolean;
  /** For a regular file (the planner compares them with a copy's): its mode and owner. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** For a regular file that a copy would replace: its content. */
  content?: Buffer;
}

/** A link somewhere under /etc pointing into /etc/static. */
export interface StaticLink {
  name: string;
  target: string;
  /** Whether the new tree has a symlink at that name (so the link stays valid). */
  stillDeclared: boolean;
}

/** Everything the planner needs to know about the target root. */
export interface EtcState {
  /** Where /etc/static points now, if it is a link. */
  staticTarget?: string;
  /** What /etc/static is when it is there but not a symlink ("a directory", …): nothing may be linked to it. */
  staticInTheWay?: string;
  staticLinks: StaticLink[];
  nodes: Map<string, NodeState>;
  /** Names in `/etc/.clean`, and refused lines. */
  clean: string[];
  cleanRefused: { name: string; reason: string }[];
  /**
   * Why `/etc/.clean`, or the passwd or group that owner names are looked up in, could not be read
   * (each then read as empty): one such file must not stop every entry at every boot.
   */
  unreadable?: { name: string; reason: string }[];
  cleanText: string;
  hasTag: boolean;
  /** Owner tables as they will be once /etc is set up. */
  ids: IdTables;
  /**
   * The directories (relative to /etc, "" for /etc) the walk for static links listed, or that were
   * listed for temporaries alone (one holding an entry or a `.clean` name that the walk does not
   * enter: under /etc/nixos, or reached through a link such as `/etc/ssh -> /persist/ssh`), and
   * those among them holding a temporary name of ours: a killed run's leftovers are only looked
   * for again, under the lock, where one was seen or nobody looked.
   */
  listedDirs?: { has(dir: string): boolean };
  /** The names in `nodes` where a directory is (the only ones a link or a copy may replace as a whole). */
  dirNodes?: readonly string[];
  dirsWithTemps?: ReadonlySet<string>;
  /** The directories of `clean`'s names (relative to /etc), each run of names of one directory once. */
  cleanDirs: readonly string[];
}

/** The Nix store, as seen inside the root. */
const STORE_DIR = "/nix/store";

/** The store's path inside a root, as named and as resolved there (`/nix` may be a link), by root. */
const storeDirs = new Map<string, string[]>();

function storeDirsOf(root: string): string[] {
  let dirs = storeDirs.get(root);
  if (dirs === undefined) {
    let resolved = STORE_DIR;
    try { resolved = canonicalInRoot(root, STORE_DIR); } catch { /* a loop: the name alone */ }
    dirs = resolved === STORE_DIR ? [STORE_DIR] : [STORE_DIR, resolved];
    storeDirs.set(root, dirs);
  }
  return dirs;
}

/**
 * Whether the host path `host` (resolved inside `root`) is in the Nix store: nothing is written
 * there (read-only on a running NixOS, but not in the initrd's /sysroot nor under --root).
 */
export function inStore(root: string, host: string): boolean {
  const inRoot = inRootPath(root, host);
  return storeDirsOf(root).some((d) => inRoot.startsWith(`${d}/`));
}

/** `/etc/static` itself (a link to it points into /etc/static too). */
const STATIC_DIR = STATIC_PREFIX.slice(0, -1);

/** Whether a link target points into /etc/static. */
export function intoStatic(target: string): boolean {
  return target === STATIC_DIR || target.startsWith(STATIC_PREFIX);
}

/**
 * The text of a database-like file of the root (passwd, group, .clean), "" when missing. Read
 * only if it is a regular file of bounded size (a FIFO or /dev/zero there must not hang the boot);
 * `path` is resolved inside the root by the caller. Throws InputFileError for anything else.
 */
function readText(path: string, what: string): string {
  // Resolved already: a symlink found at the path now appeared meanwhile, and is refused.
  return readRegularTextOptional(path, { maxBytes: MAX_BYTES.database, what, noFollow: true }) ?? "";
}

/**
 * onlyStatic answers while loadEtcState runs (it only reads): every declared entry under a
 * directory observes that directory, and the check of a directory includes its subdirectories,
 * so without memoising a deep tree is walked once per level.
 */
let onlyStaticMemo: Map<string, boolean> | undefined;

/** The names `/etc/.clean` lists (copies and direct links of this step's) while loadEtcState runs. */
let ourNames: ReadonlySet<string> | undefined;

/**
 * Directories holding only links into /etc/static (setup-etc.pl's is_static, for a real
 * directory), and copies or direct links of this step's (`name`, the directory's name in /etc, is
 * how `.clean` knows them): such a directory is ours to replace in one run. setup-etc.pl kept one
 * holding copies, which then vanished with the cleanup and left it empty until the next run.
 */
function onlyStatic(host: string, name: string): boolean {
  const known = onlyStaticMemo?.get(host);
  if (known !== undefined) return known;
  const answer = (() => {
    let listed: Dirent[];
    // Unreadable: not known to hold only static links, so it is kept (with setup-etc.pl's warning).
    try { listed = readdirSync(host, { withFileTypes: true }); } catch { return false; }
    for (const d of listed) {
      // A killed run's temporary is ours: swept before anything is done, or removed with the
      // directory (counted as the admin's, it kept the directory this run and not the next).
      if (isTempName(d.name)) continue;
      const here = `${host}/${d.name}`;
      const inEtc = `${name}/${d.name}`;
      if (isSymlink(d, here)) { if (!intoStatic(linkTargetAt(here)) && !ourNames?.has(inEtc)) return false; }
      else if (isDirectory(d, here)) { if (!onlyStatic(here, inEtc)) return false; }
      else if (!(d.isFile() && ourNames?.has(inEtc))) return false;
    }
    return true;
  })();
  onlyStaticMemo?.set(host, answer);
  return answer;
}

/**
 * The host path of `/etc/NAME` with its parents resolved inside the root, or undefined when a
 * parent is a link into /etc/static (removed by the cleanup before anything is created there).
 */
export function etcHostPath(root: string, name: string, staticParents = false, etc?: string): string | undefined {
  const dir = etcDirHostPath(root, parentName(name), staticParents, etc);
  return dir === undefined ? undefined : `${dir}/${name.slice(name.lastIndexOf("/") + 1)}`;
}

/**
 * etcHostPath of a directory, resolved (`dir` relative to /etc, "" for /etc itself; `etc`: /etc
 * resolved, when the caller knows it). Memoised while planning, as all the entries of a directory
 * share the answer; live while applying.
 */
export function etcDirHostPath(root: string, dir: string, staticParents: boolean, etc?: string): string | undefined {
  if (dir === "") return etc ?? resolveInRoot(root, "/etc");
  return memoised(`etc-dir\0${staticParents}\0${root}\0${dir}`, () => {
    const above = etcDirHostPath(root, parentName(dir), staticParents, etc);
    if (above === undefined) return undefined;
    // `/etc/DIR` itself, its parents resolved: a link into /etc/static there is removed by the cleanup.
    const h = `${above.endsWith("/") ? above : `${above}/`}${dir.slice(dir.lastIndexOf("/") + 1)}`;
    if (!isSymlinkAt(h)) return h;
    try {
      if (!staticParents && intoStatic(linkTargetAt(h))) return undefined;
    } catch { /* gone meanwhile */ }
    return resolveInRoot(root, `/etc/${dir}`);
  });
}

/** A directory entry's type from the listing, asking lstat only when the file system gives none. */
function isSymlink(d: Dirent, here: string): boolean {
  if (d.isSymbolicLink()) { noteSymlinkAt(here, true); return true; }
  if (d.isFile()) { noteRegularAt(here); return false; }
  if (d.isDirectory()) { noteSymlinkAt(here, false); return false; }
  return isSymlinkAt(here);
}

function isDirectory(d: Dirent, here: string): boolean {
  if (d.isDirectory() || d.isSymbolicLink() || d.isFile()) return d.isDirectory();
  return lstatSync(here).isDirectory();
}

/** What the walk of /etc saw at a name: a symlink's target, a regular file, a directory, or something else (or not known). */
type Seen = string | typeof FILE | typeof DIR | typeof OTHER;
const FILE = 1;
const DIR = 2;
const OTHER = 3;

/**
 * What the walk of /etc listed: per directory (relative to /etc, "" for /etc), reached through
 * real directories only (so at `${etc}/${dir}`), what each of its names is. Kept per directory
 * and by base name, so that the thousands of entries cost no long path keys.
 */
type Listing = Map<string, Map<string, Seen>>;

/**
 * What is at `/etc/NAME` for the entry `e`, in the directory `e.dir` whose resolved host path is
 * `dir` (etcDirHostPath: undefined under a link into /etc/static, null when it cannot be
 * resolved); `listed`: what the walk of /etc saw in that directory, if it listed it.
 */
function observe(root: string, e: EtcEntry, dir: string | undefined | null, listed: Map<string, Seen> | undefined): NodeState {
  const name = e.name;
  // A parent that cannot be resolved (a loop of links): that parent is in the way of this entry
  // alone (the planner refuses it when it gets there), not of the whole run.
  if (dir === null) return { type: "other" };
  if (dir === undefined) return { type: "none" };
  const leaf = e.base;
  // What the walk of /etc saw there, when it listed this directory (through real directories, so
  // at this very path): nothing (no lstat needed), a link and its target, or the listing's type.
  const seen = listed?.get(leaf);
  if (listed !== undefined ? seen === undefined : knownMissingAt(dir)) return { type: "none" };
  // A link the walk of /etc listed needs no lstat: a link's mode and owner mean nothing here.
  if (typeof seen === "string") return linkState(root, name, dir, leaf, seen);
  const host = `${dir}/${leaf}`;
  // A directory the walk of /etc listed: nothing more to know of it (its mode and owner are not asked).
  if (seen === DIR) return e.kind === "directory" ? { type: "dir" } : { type: "dir", onlyStatic: onlyStatic(host, name) };
  // A regular file the walk of /etc listed where a copy goes: its open's fstat tells all, no lstat.
  if (e.kind === "copy" && (seen === FILE || (listed === undefined && knownRegularAt(host)))) {
    const found = observeFile(host, e.name);
    if (found) return found;
  }
  let st;
  try { st = lstatSync(host); } catch { return { type: "none" }; }
  if (st.isSymbolicLink()) {
    let linkTarget;
    try { linkTarget = readlinkSync(host); } catch { return { type: "none" }; }
    return linkState(root, name, dir, leaf, linkTarget);
  }
  const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (st.isDirectory()) return { ...base, type: "dir", ...(e.kind === "directory" ? {} : { onlyStatic: onlyStatic(host, name) }) };
  if (st.isFile()) return { ...base, type: "file", content: e.kind === "copy" ? oldContent(host, e.name) : undefined };
  return { ...base, type: "other" };
}

/**
 * A link at `/etc/NAME` (named `leaf` in the directory at host path `dir`) to `linkTarget`: for one
 * not into /etc/static, whether it leads to a directory.
 */
function linkState(root: string, name: string, dir: string, leaf: string, linkTarget: string): NodeState {
  if (intoStatic(linkTarget)) return { type: "link", linkTarget };
  let leadsToDir = false;
  let to: string | undefined;
  // The resolution starts at this link, already read.
  noteLinkTargetAt(`${dir}/${leaf}`, linkTarget);
  try {
    // The resolution's own lstat of where it ends may have found a regular file already.
    to = resolveInRoot(root, `/etc/${name}`);
    leadsToDir = !knownRegularAt(to) && statSync(to).isDirectory();
  } catch { /* dangling */ }
  return { type: "link", linkTarget, leadsToDir, ...(leadsToDir && inStore(root, to!) ? { intoStore: true } : {}) };
}

/**
 * What is at `host` where a copy goes, when the walk of /etc listed a regular file there: read at
 * once (open, fstat, read), the fstat giving mode and owner. Undefined when the open found no
 * regular file (gone, or swapped meanwhile): the caller looks again with lstat.
 */
function observeFile(host: string, name: string): NodeState | undefined {
  let st: Stats | undefined;
  let content: Buffer | undefined;
  try {
    content = readRegularFileOptional(host, { maxBytes: MAX_BYTES.etcCopy, what: `/etc/${name}`, noFollow: true, knownRegular: true, seen: (s) => { st = s; } });
  } catch (e) {
    // Too large for a copy: it is simply replaced, as oldContent says.
    if (!(e instanceof InputFileError)) throw e;
  }
  if (st === undefined || !st.isFile()) return undefined;
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, type: "file", content };
}

/**
 * The content of a regular file a copy is to replace (for the comparison and --diff), or undefined
 * when it cannot be read within the copy's own size cap: it is then simply replaced. The caller's
 * lstat found a regular file there (fstat checks again what is opened).
 */
function oldContent(host: string, name: string): Buffer | undefined {
  try {
    return readRegularFileOptional(host, { maxBytes: MAX_BYTES.etcCopy, what: `/etc/${name}`, noFollow: true, knownRegular: true });
  } catch (e) {
    if (e instanceof InputFileError) return undefined;
    throw e;
  }
}

/**
 * Finds links into /etc/static under /etc (resolved inside the root), never looking under
 * /etc/nixos (a link at /etc/nixos itself is found), and records in `listing` what each directory it listed holds. Temporary names of an
 * earlier, killed run are skipped: applying sweeps them.
 */
function findStaticLinks(root: string, tree: EtcTree, etc: string, listing: Listing, dirsWithTemps: Set<string>): StaticLink[] {
  const found: StaticLink[] = [];
  // Where each directory of the new tree resolves (null: it does not), once per directory.
  const treeDirs = new Map<string, string | null>();
  /**
   * Like `-l "/etc/static/NAME"` once /etc/static is the new tree: parents followed, the entry not.
   * For a directory the tree's walk did not list (of one it listed, reached through real
   * directories, tree.links knows the links).
   */
  const stillDeclared = (rel: string, base: string): boolean => {
    let dirHost = treeDirs.get(rel);
    if (dirHost === undefined) {
      try { dirHost = resolveInRoot(root, `${tree.path}/${rel}`); } catch { dirHost = null; }
      treeDirs.set(rel, dirHost);
    }
    return dirHost !== null && isSymlinkAt(`${dirHost}/${base}`);
  };
  const walk = (rel: string, host: string) => {
    let listed: Dirent[];
    try { listed = readdirSync(host, { withFileTypes: true }); } catch { return; }
    const seen = new Map<string, Seen>();
    listing.set(rel, seen);
    const names: string[] = [];
    for (const d of listed) {
      const base = d.name;
      // Only a dot name can be a temporary: the others need no call (a call costs more than the test).
      if (base.charCodeAt(0) === 0x2e && isTempName(base)) {
        dirsWithTemps.add(rel);
        // Listed, but not looked at: an entry of that name is lstat'ed by observe.
        seen.set(base, OTHER);
        continue;
      }
      names.push(base);
      // The listing's file types spare an lstat per node; link targets are read once (observe reuses them).
      seen.set(base, seenAt(d, `${host}/${base}`));
    }
    // Whether the tree's walk listed this directory too (asked once for all its links).
    const walkedInTree = rel === "" || tree.byName.get(rel)?.kind === "directory";
    for (const base of sortStringsBytewise(names)) {
      const name = rel === "" ? base : `${rel}/${base}`;
      const what = seen.get(base)!;
      if (typeof what === "string") {
        // /etc/nixos itself included: a link into /etc/static there is ours like any other (kept,
        // it made every later tree with a nixos/ directory fail to set it up, at every run).
        if (intoStatic(what)) found.push({ name, target: what, stillDeclared: walkedInTree ? tree.links.has(name) : stillDeclared(rel, base) });
      } else if (what === DIR && name !== "nixos") {
        // Never under /etc/nixos, where the NixOS sources live (setup-etc.pl prunes it too).
        const sub = `${host}/${base}`;
        // Resolutions under /etc (of links that are not into /etc/static) need no lstat of it.
        noteSymlinkAt(sub, false);
        walk(name, sub);
      }
    }
  };
  walk("", etc);
  return found;
}

/** What a listed node is: from the listing's file type (lstat only when the file system gives none); a link's target read. */
function seenAt(d: Dirent, here: string): Seen {
  if (!d.isSymbolicLink()) {
    if (d.isFile()) return FILE;
    if (d.isDirectory()) return DIR;
    let st;
    try { st = lstatSync(here); } catch { return OTHER; }
    if (st.isFile()) return FILE;
    if (st.isDirectory()) return DIR;
    if (!st.isSymbolicLink()) return OTHER;
  }
  // Gone or replaced meanwhile: observe looks again.
  try { return readlinkSync(here); } catch { return OTHER; }
}

/** The source text of a declared /etc file (for passwd/group declared by the tree itself). */
function declaredText(root: string, tree: EtcTree, name: string): string | undefined {
  const e = tree.byName.get(name);
  if (!e) return undefined;
  if (e.kind === "copy") return e.content.toString("utf8");
  if (e.kind === "link" || e.kind === "direct") return readText(resolveInRoot(root, `${tree.path}/${name}`), `the etc entry ${name}`);
  return undefined;
}

/** Loads the state of `root`'s /etc relevant to setting up `tree`. */
export function loadEtcState(root: string, tree: EtcTree, planned?: ReadonlyMap<string, string>): EtcState {
  const outer = onlyStaticMemo;
  const outerNames = ourNames;
  onlyStaticMemo ??= new Map();
  try {
    return loadEtcStateNow(root, tree, planned);
  } finally {
    onlyStaticMemo = outer;
    ourNames = outerNames;
  }
}

function loadEtcStateNow(root: string, tree: EtcTree, planned?: ReadonlyMap<string, string>): EtcState {
  const etc = resolveInRoot(root, "/etc");
  // The walk of /etc first: its listings tell which declared names are links (no lstat for those).
  const listing: Listing = new Map();
  const dirsWithTemps = new Set<string>();
  const staticLinks = findStaticLinks(root, tree, etc, listing, dirsWithTemps);
  const top = listing.get("");
  /** A file of /etc itself: where a listed regular file is, no resolution nor lstat first (fstat judges what is opened). */
  const etcText = (name: string, what: string) => {
    const s = top?.get(name);
    if (top !== undefined && s === undefined) return "";
    if (s === FILE) {
      return readRegularTextOptional(`${etc}/${name}`, { maxBytes: MAX_BYTES.database, what, noFollow: true, knownRegular: true }) ?? "";
    }
    return readText(resolveInRoot(root, `/etc/${name}`), what);
  };
  /** Files that could not be read (a directory or FIFO there, too large, a link loop): read as empty, each reported. */
  const unreadable: { name: string; reason: string }[] = [];
  const orEmpty = (read: () => string | undefined, name: string): string | undefined => {
    try {
      return read();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException)?.code;
      if (!(e instanceof InputFileError) && typeof code !== "string") throw e;
      unreadable.push({ name, reason: e instanceof InputFileError ? e.message : `/etc/${name}: ${(e as Error).message}` });
      return "";
    }
  };
  const cleanText = orEmpty(() => etcText(CLEAN, `/etc/${CLEAN}`), CLEAN)!;
  const { names, refused } = parseClean(cleanText);
  // Read before the entries are observed: a directory holding only what `.clean` lists is ours.
  ourNames = new Set(names);
  const nodes = new Map<string, NodeState>();
  const dirNodes: string[] = [];
  // Each directory of /etc resolved once for all its entries (null: it cannot be); one the walk
  // listed is at its own name under /etc.
  const dirHosts = new Map<string, string | undefined | null>();
  // Entries come directory by directory: the one before's directory is most often this one's.
  let lastParent: string | undefined;
  let dir: string | undefined | null;
  let listed: Map<string, Seen> | undefined;
  for (const e of tree.entries) {
    if (e.kind === "file") continue;
    const parent = e.dir;
    if (parent !== lastParent) {
      lastParent = parent;
      listed = listing.get(parent);
      dir = dirHosts.get(parent);
      if (dir === undefined && !dirHosts.has(parent)) {
        if (listed !== undefined) dir = parent === "" ? etc : `${etc}/${parent}`;
        else try { dir = etcDirHostPath(root, parent, false, etc); } catch { dir = null; }
        dirHosts.set(parent, dir);
      }
    }
    const node = observe(root, e, dir, listed);
    nodes.set(e.name, node);
    if (node.type === "dir") dirNodes.push(e.name);
  }
  // Directories the walk did not list (it never enters /etc/nixos nor follows a link) where this
  // run manages names: listed once here, so that a run with nothing to do there stays a no-op
  // instead of sweeping them (and taking the lock) at every run.
  const lookedDirs = new Set<string>();
  const look = (parent: string) => {
    if (listing.has(parent) || lookedDirs.has(parent)) return;
    let host = dirHosts.get(parent);
    if (host === undefined && !dirHosts.has(parent)) {
      try { host = etcDirHostPath(root, parent, false, etc); } catch { host = null; }
    }
    // Under a link into /etc/static, or not resolvable: the sweep skips it as well.
    if (typeof host !== "string") { lookedDirs.add(parent); return; }
    let here: string[];
    try {
      here = readdirSync(host);
    } catch (e) {
      // Missing (made by this run) holds nothing; otherwise the sweep tries under the lock.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") lookedDirs.add(parent);
      return;
    }
    lookedDirs.add(parent);
    if (here.some(isTempName)) dirsWithTemps.add(parent);
  };
  // The entries' directories are dirHosts' keys (each once); `.clean`'s names may lie elsewhere.
  for (const parent of dirHosts.keys()) look(parent);
  // `.clean` is written sorted, so its names come directory by directory: a run of names of one
  // directory looks once (looking again would change nothing).
  const cleanDirs: string[] = [];
  let lastCleanDir: string | undefined;
  for (const name of names) {
    const dir = parentName(name);
    if (dir !== lastCleanDir) { look(dir); cleanDirs.push(dir); lastCleanDir = dir; }
  }
  let staticTarget: string | undefined;
  let staticInTheWay: string | undefined;
  const listedStatic = top?.get(STATIC);
  if (typeof listedStatic === "string") staticTarget = listedStatic;
  else if (top === undefined || listedStatic !== undefined) {
    try {
      const st = lstatSync(`${etc}/${STATIC}`);
      if (st.isSymbolicLink()) staticTarget = readlinkSync(`${etc}/${STATIC}`);
      else staticInTheWay = st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a symlink";
    } catch { /* none yet */ }
  }
  let hasTag = top?.has("NIXOS") ?? false;
  if (top === undefined) try { lstatSync(`${etc}/NIXOS`); hasTag = true; } catch { /* missing */ }
  // Owner names are the target root's: its passwd and group, resolved inside it (a link to
  // /etc/static/passwd is the root's too), never the host's; in a dry run, as the users step would
  // leave them.
  const passwd = orEmpty(() => declaredText(root, tree, "passwd") ?? planned?.get("/etc/passwd") ?? etcText("passwd", "/etc/passwd"), "passwd")!;
  const group = orEmpty(() => declaredText(root, tree, "group") ?? planned?.get("/etc/group") ?? etcText("group", "/etc/group"), "group")!;
  return {
    staticTarget, ...(staticInTheWay ? { staticInTheWay } : {}), staticLinks, nodes, clean: names, cleanRefused: refused, unreadable,
    cleanText, hasTag, ids: idTables(passwd, group), listedDirs: { has: (dir) => listing.has(dir) || lookedDirs.has(dir) }, dirsWithTemps, dirNodes, cleanDirs,
  };
}
