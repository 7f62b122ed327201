/**
 * Loading what /etc looks like now, for the planner: the links into /etc/static, what sits at
 * each name the new tree declares, `.clean`, and the owner tables. Reads only; the result is data.
 */
import { type Dirent, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { CLEAN, parseClean } from "./clean.ts";
import { type IdTables, idTables } from "./owners.ts";
import { parentName, STATIC } from "./paths.ts";
import { hostPath, isSymlinkAt, knownSymlinkAt, linkTargetAt, memoised, noteSymlinkAt, resolveInRoot } from "../fs/root.ts";
import { sortBytewise } from "../text/bytewise.ts";
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
   * For a directory where the tree declares a link or a copy: whether it holds only links into
   * /etc/static (and such directories). Not looked into where the tree declares a directory too.
   */
  onlyStatic?: boolean;
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
  staticLinks: StaticLink[];
  nodes: Map<string, NodeState>;
  /** Names in `/etc/.clean`, and refused lines. */
  clean: string[];
  cleanRefused: { name: string; reason: string }[];
  cleanText: string;
  hasTag: boolean;
  /** Owner tables as they will be once /etc is set up. */
  ids: IdTables;
}

/** Whether a link target points into /etc/static. */
export function intoStatic(target: string): boolean {
  return target === `/etc/${STATIC}` || target.startsWith(`/etc/${STATIC}/`);
}

function readOr(path: string, fallback: string): string {
  try { return readFileSync(path, "utf8"); } catch { return fallback; }
}

/**
 * onlyStatic answers while loadEtcState runs (it only reads): every declared entry under a
 * directory observes that directory, and the check of a directory includes its subdirectories,
 * so without memoising a deep tree is walked once per level.
 */
let onlyStaticMemo: Map<string, boolean> | undefined;

/** Directories holding only links into /etc/static (setup-etc.pl's is_static, for a real directory). */
function onlyStatic(host: string): boolean {
  const known = onlyStaticMemo?.get(host);
  if (known !== undefined) return known;
  const answer = (() => {
    for (const d of readdirSync(host, { withFileTypes: true })) {
      const here = `${host}/${d.name}`;
      if (isSymlink(d, here)) { if (!intoStatic(linkTargetAt(here))) return false; }
      else if (!isDirectory(d, here) || !onlyStatic(here)) return false;
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
function etcDirHostPath(root: string, dir: string, staticParents: boolean, etc?: string): string | undefined {
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
  if (d.isDirectory() || d.isFile()) { noteSymlinkAt(here, false); return false; }
  return isSymlinkAt(here);
}

function isDirectory(d: Dirent, here: string): boolean {
  if (d.isDirectory() || d.isSymbolicLink() || d.isFile()) return d.isDirectory();
  return lstatSync(here).isDirectory();
}

function observe(root: string, e: EtcEntry): NodeState {
  const name = e.name;
  const host = etcHostPath(root, name);
  if (host === undefined) return { type: "none" };
  // A link the walk of /etc listed needs no lstat: a link's mode and owner mean nothing here.
  let st;
  if (knownSymlinkAt(host) !== true) {
    try { st = lstatSync(host); } catch { return { type: "none" }; }
    noteSymlinkAt(host, st.isSymbolicLink());
  }
  if (st === undefined || st.isSymbolicLink()) {
    const linkTarget = linkTargetAt(host);
    if (intoStatic(linkTarget)) return { type: "link", linkTarget };
    let leadsToDir = false;
    try { leadsToDir = statSync(resolveInRoot(root, `/etc/${name}`)).isDirectory(); } catch { /* dangling */ }
    return { type: "link", linkTarget, leadsToDir };
  }
  const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (st.isDirectory()) return { ...base, type: "dir", ...(e.kind === "directory" ? {} : { onlyStatic: onlyStatic(host) }) };
  if (st.isFile()) return { ...base, type: "file", content: e.kind === "copy" ? readFileSync(host) : undefined };
  return { ...base, type: "other" };
}

/** Finds links into /etc/static under /etc, never looking under /etc/nixos. */
function findStaticLinks(root: string, tree: EtcTree): StaticLink[] {
  const found: StaticLink[] = [];
  const etc = hostPath(root, "/etc");
  const walk = (rel: string) => {
    let listed: Dirent[];
    try { listed = readdirSync(rel === "" ? etc : `${etc}/${rel}`, { withFileTypes: true }); } catch { return; }
    for (const d of sortBytewise(listed, (e) => e.name)) {
      const name = rel === "" ? d.name : `${rel}/${d.name}`;
      if (name === "nixos") continue;
      // The listing's file types spare an lstat per node; link targets were mostly read by observe.
      if (isSymlink(d, `${etc}/${name}`)) {
        const target = linkTargetAt(`${etc}/${name}`);
        if (!intoStatic(target)) continue;
        // Like `-l "/etc/static/NAME"` once /etc/static is the new tree: parents followed, the entry not.
        const parent = parentName(name);
        let stillDeclared = false;
        try {
          const at = `${resolveInRoot(root, parent === "" ? tree.path : `${tree.path}/${parent}`)}/${name.split("/").at(-1)}`;
          stillDeclared = isSymlinkAt(at);
        } catch { /* not declared */ }
        found.push({ name, target, stillDeclared });
      } else if (isDirectory(d, `${etc}/${name}`)) {
        walk(name);
      }
    }
  };
  walk("");
  return found;
}

/** The source text of a declared /etc file (for passwd/group declared by the tree itself). */
function declaredText(root: string, tree: EtcTree, name: string): string | undefined {
  const e = tree.byName.get(name);
  if (!e) return undefined;
  if (e.kind === "copy") return e.content.toString("utf8");
  if (e.kind === "link" || e.kind === "direct") return readOr(resolveInRoot(root, `${tree.path}/${name}`), "");
  return undefined;
}

/** Loads the state of `root`'s /etc relevant to setting up `tree`. */
export function loadEtcState(root: string, tree: EtcTree): EtcState {
  const outer = onlyStaticMemo;
  onlyStaticMemo ??= new Map();
  try {
    return loadEtcStateNow(root, tree);
  } finally {
    onlyStaticMemo = outer;
  }
}

function loadEtcStateNow(root: string, tree: EtcTree): EtcState {
  // The walk of /etc first: its listings tell which declared names are links (no lstat for those).
  const staticLinks = findStaticLinks(root, tree);
  const nodes = new Map<string, NodeState>();
  for (const e of tree.entries) {
    if (e.kind === "file") continue;
    nodes.set(e.name, observe(root, e));
  }
  const cleanText = readOr(hostPath(root, `/etc/${CLEAN}`), "");
  const { names, refused } = parseClean(cleanText);
  let staticTarget: string | undefined;
  try { staticTarget = readlinkSync(hostPath(root, `/etc/${STATIC}`)); } catch { /* none yet */ }
  let hasTag = false;
  try { lstatSync(hostPath(root, "/etc/NIXOS")); hasTag = true; } catch { /* missing */ }
  const passwd = declaredText(root, tree, "passwd") ?? readOr(hostPath(root, "/etc/passwd"), "");
  const group = declaredText(root, tree, "group") ?? readOr(hostPath(root, "/etc/group"), "");
  return {
    staticTarget, staticLinks, nodes, clean: names, cleanRefused: refused,
    cleanText, hasTag, ids: idTables(passwd, group),
  };
}
