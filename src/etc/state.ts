/**
 * Loading what /etc looks like now, for the planner: the links into /etc/static, what sits at
 * each name the new tree declares, `.clean`, and the owner tables. Reads only; the result is data.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { CLEAN, parseClean } from "./clean.ts";
import { type IdTables, idTables } from "./owners.ts";
import { hostPath, isSymlinkAt, linkTargetAt, noteSymlinkAt, parentName, resolveInRoot, STATIC } from "./paths.ts";
import { byteCompare, type EtcTree } from "./tree.ts";

/** What is at `/etc/NAME`. `none` also covers a name under a link into /etc/static (cleanup removes it). */
export interface NodeState {
  type: "none" | "file" | "link" | "dir" | "other";
  linkTarget?: string;
  /** For a link: whether it leads (inside the root) to a directory. */
  leadsToDir?: boolean;
  /** For a directory: whether it holds only links into /etc/static (and such directories). */
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
    for (const n of readdirSync(host)) {
      const st = lstatSync(`${host}/${n}`);
      if (st.isSymbolicLink()) { if (!intoStatic(readlinkSync(`${host}/${n}`))) return false; }
      else if (!st.isDirectory() || !onlyStatic(`${host}/${n}`)) return false;
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
export function etcHostPath(root: string, name: string, staticParents = false): string | undefined {
  const parts = name.split("/");
  let dir = "/etc";
  for (const p of parts.slice(0, -1)) {
    const h = resolveInRoot(root, `${dir}/${p}`, false);
    try {
      // Memoised while planning (many entries share parents); live while applying.
      if (isSymlinkAt(h) && !staticParents && intoStatic(linkTargetAt(h))) return undefined;
    } catch { /* missing: created later */ }
    dir = `${dir}/${p}`;
  }
  const parent = parentName(name);
  return `${resolveInRoot(root, parent === "" ? "/etc" : `/etc/${parent}`)}/${parts.at(-1)}`;
}

function observe(root: string, name: string, wantContent: boolean): NodeState {
  const host = etcHostPath(root, name);
  if (host === undefined) return { type: "none" };
  let st;
  try { st = lstatSync(host); } catch { return { type: "none" }; }
  const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  noteSymlinkAt(host, st.isSymbolicLink());
  if (st.isSymbolicLink()) {
    let leadsToDir = false;
    try { leadsToDir = statSync(resolveInRoot(root, `/etc/${name}`)).isDirectory(); } catch { /* dangling */ }
    return { ...base, type: "link", linkTarget: linkTargetAt(host), leadsToDir };
  }
  if (st.isDirectory()) return { ...base, type: "dir", onlyStatic: onlyStatic(host) };
  if (st.isFile()) return { ...base, type: "file", content: wantContent ? readFileSync(host) : undefined };
  return { ...base, type: "other" };
}

/** Finds links into /etc/static under /etc, never looking under /etc/nixos. */
function findStaticLinks(root: string, tree: EtcTree): StaticLink[] {
  const found: StaticLink[] = [];
  const etc = hostPath(root, "/etc");
  const walk = (rel: string) => {
    let names: string[];
    try { names = readdirSync(rel === "" ? etc : `${etc}/${rel}`); } catch { return; }
    for (const n of names.sort(byteCompare)) {
      const name = rel === "" ? n : `${rel}/${n}`;
      if (name === "nixos") continue;
      // Links were mostly seen by observe already (memoised); other nodes are asked directly.
      if (isSymlinkAt(`${etc}/${name}`)) {
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
      } else if (lstatSync(`${etc}/${name}`).isDirectory()) {
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
  const nodes = new Map<string, NodeState>();
  for (const e of tree.entries) {
    if (e.kind === "file") continue;
    nodes.set(e.name, observe(root, e.name, e.kind === "copy"));
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
    staticTarget, staticLinks: findStaticLinks(root, tree), nodes, clean: names, cleanRefused: refused,
    cleanText, hasTag, ids: idTables(passwd, group),
  };
}
