/**
 * The pure planner: from a generation's etc tree and the loaded state of /etc, the full list of
 * operations setting up /etc, in the order they are applied, each with the message setup-etc.pl
 * prints for it (if any) and the line dry-activate shows.
 */
import { unifiedDiff } from "../text/diff.ts";
import { formatClean } from "./clean.ts";
import { ownerInRange, resolveOwner, shownSpec } from "./owners.ts";
import { parentName, STATIC, STATIC_PREFIX } from "./paths.ts";
import { type EtcState, intoStatic, type NodeState } from "./state.ts";
import type { EtcTree } from "./tree.ts";

/** One operation on /etc. Names are relative to /etc. */
export type EtcOp =
  /** Point /etc/static at the new tree (atomically). */
  | { op: "static"; target: string }
  /**
   * Remove a link into /etc/static that the new tree no longer declares. When the tree has a
   * directory there instead, the directory is built beside the link and swapped in.
   */
  | { op: "remove-link"; name: string; toDirectory?: boolean; insideReplacedDir?: boolean }
  /**
   * Remove a directory holding only links into /etc/static (and copies or direct links of this
   * step's, listed in `.clean`), to put a link (or, `copy`, a copy) in its place.
   */
  | { op: "replace-dir"; name: string; copy?: boolean }
  /**
   * Put a directory in place of a copy or a direct link this step made (listed in `.clean`) where
   * the new tree has a directory: built aside and swapped in once complete, as for remove-link.
   */
  | { op: "file-to-dir"; name: string; was: "file" | "link" }
  | { op: "mkdir"; name: string }
  /**
   * Make `/etc/NAME` a symlink to `target` (atomically replacing what is there). `foreign`: a file
   * or link not of this step's is there now (not in `.clean`, not into /etc/static).
   */
  | { op: "link"; name: string; target: string; direct: boolean; foreign?: boolean }
  /** Write a copy with its mode and owner (atomically replacing what is there); `foreign` as for a link. */
  | { op: "copy"; name: string; content: Buffer; mode: number; uid: number; gid: number; user: string; group: string; old?: Buffer; foreign?: boolean }
  /** Remove a copied file no longer declared. */
  | { op: "remove-file"; name: string }
  /** Rewrite /etc/.clean. */
  | { op: "clean"; names: string[]; changed: boolean }
  /** Create /etc/NIXOS. */
  | { op: "tag" }
  /** A warning setup-etc.pl would print; nothing is done. */
  | { op: "warn"; message: string }
  /** An entry refused: left as it is; the run ends non-zero. */
  | { op: "error"; name: string; message: string };

/** What shapes the plan besides the tree and the state. */
export interface PlanOptions {
  /** `IN_NIXOS_ENTER` is set: nixos-enter bind-mounts /etc/resolv.conf, so leave it alone. */
  inNixosEnter: boolean;
  /** Show content changes of copied files in the dry lines. */
  diff: boolean;
}

/** The plan's data: the operations, in order. */
export interface EtcPlan {
  tree: string;
  ops: EtcOp[];
  /**
   * The directories to sweep (relative to /etc, "" for /etc itself): of those this run manages
   * (holding an entry of the new tree, a link into /etc/static or a copy listed in `.clean`), the
   * ones where loading saw a temporary name or did not look (reached through a link, or missing).
   * Temporary files a killed run left there are swept, under the lock, before anything is done.
   */
  dirs: string[];
  /**
   * What the plan was made from that another run would change: `/etc/.clean`'s text and where
   * `/etc/static` pointed. Planning takes no lock; the applier compares these under the lock and
   * plans again when another run changed /etc meanwhile.
   */
  seen?: { clean: string; static: string | undefined };
}

const q = (name: string) => `‘/etc/${name}’`;
const octal = (m: number) => m.toString(8).padStart(4, "0");

/** The message setup-etc.pl prints (on stderr) when carrying out `op`, if any. */
export function opMessage(op: EtcOp): string | undefined {
  switch (op.op) {
    case "remove-link": return `removing obsolete symlink ${q(op.name)}...`;
    case "remove-file": return `removing obsolete file ${q(op.name)}...`;
    case "file-to-dir": return `removing obsolete ${op.was === "file" ? "file" : "symlink"} ${q(op.name)}...`;
    case "warn": return op.message;
    case "error": return op.message;
    default: return undefined;
  }
}

/** The line dry-activate shows for `op` (what would be done). */
function opLine(op: EtcOp): string {
  switch (op.op) {
    case "static": return `would link /etc/${STATIC} to ${op.target}`;
    case "remove-link": return `would remove obsolete symlink ${q(op.name)}`;
    case "replace-dir": return `would replace directory ${q(op.name)} (only links into /etc/static and files of this step's) with a ${op.copy ? "copy" : "link"}`;
    case "mkdir": return `would create directory ${q(op.name)}`;
    case "link": return `would link ${q(op.name)} to ${op.target}`;
    case "copy": return `would ${op.old ? "update" : "copy"} ${q(op.name)} (mode ${octal(op.mode)}, owner ${op.user}:${op.group} = ${op.uid}:${op.gid})`;
    case "remove-file": return `would remove obsolete file ${q(op.name)}`;
    case "file-to-dir": return `would replace obsolete ${op.was === "file" ? "file" : "symlink"} ${q(op.name)} with a directory`;
    case "clean": return "would update /etc/.clean";
    case "tag": return "would create /etc/NIXOS";
    case "warn": return `warning: ${op.message}`;
    case "error": return op.message;
  }
}

/** A unified diff of a copy's content change; binary content is only named. */
export function copyDiff(op: Extract<EtcOp, { op: "copy" }>): string[] {
  const before = op.old ?? Buffer.alloc(0);
  if (before.equals(op.content)) return [];
  if (before.includes(0) || op.content.includes(0)) return [`Binary files /etc/${op.name} differ`];
  return unifiedDiff(`a/etc/${op.name}`, `b/etc/${op.name}`, before.toString("utf8"), op.content.toString("utf8"));
}

/** setup-etc.pl's warning for a directory (or a link to one) where an entry goes. */
function userFilesWarning(name: string): string {
  return `/etc/${name} directory contains user files. Symlinking may fail.`;
}

/**
 * Whether what is at `/etc/NAME` now (`current`) is not of this step's: a file or a link the admin
 * made (not in `.clean`, not into /etc/static). See recordNewCopies in apply.ts. Asked only where
 * an operation replaces it (a run over a set-up /etc asks nothing).
 */
function isForeign(current: NodeState, name: string, oldClean: ReadonlySet<string>): boolean {
  return (current.type === "file" || (current.type === "link" && !intoStatic(current.linkTarget!))) && !oldClean.has(name);
}

/** An owner spec's id, or why it cannot be used: it names nobody, or chown cannot set it. */
type OwnerId = number | "unknown" | "range";

/** The id `spec` gives in `table` (see resolveOwner), remembered in `memo`. */
function ownerId(spec: string, table: Map<string, number>, memo: Map<string, OwnerId>): OwnerId {
  const id = resolveOwner(spec, table);
  const answer = id === undefined ? "unknown" : ownerInRange(id) ? id : "range";
  memo.set(spec, answer);
  return answer;
}

/** Plans setting up /etc for `tree` given `state`. Pure. */
export function planEtc(tree: EtcTree, state: EtcState, opts: PlanOptions): EtcPlan {
  const ops: EtcOp[] = [];
  if (state.staticInTheWay !== undefined) {
    // Every link would lead into that directory, not into the new tree: refused before any is made.
    const message = `error: /etc/${STATIC} is ${state.staticInTheWay}, not a symlink: not setting up /etc`;
    return { tree: tree.path, ops: [{ op: "error", name: STATIC, message }], dirs: [] };
  }
  if (state.staticTarget !== tree.path) ops.push({ op: "static", target: tree.path });

  for (const u of state.unreadable ?? []) ops.push({ op: "error", name: u.name, message: `error: ${u.reason}; read as empty` });
  for (const r of state.cleanRefused) {
    ops.push({ op: "error", name: r.name, message: `error: ignoring line ‘${r.name}’ of /etc/.clean: ${r.reason}` });
  }

  // Directories holding only static links, to be replaced by a link.
  const replaced = new Set<string>();
  for (const name of state.dirNodes ?? state.nodes.keys()) {
    const s = state.nodes.get(name);
    const kind = tree.byName.get(name)?.kind;
    if ((kind === "link" || kind === "direct") && s?.type === "dir" && s.onlyStatic) replaced.add(name);
  }

  // Links into /etc/static the new tree does not declare.
  const removed = new Set<string>();
  for (const l of state.staticLinks) {
    if (l.stillDeclared) continue;
    const toDirectory = tree.byName.get(l.name)?.kind === "directory";
    // Inside a directory about to be swapped for a link, the link goes with its directory, so
    // the names the new link serves never vanish in between.
    const insideReplacedDir = replaced.size > 0 && [...replaced].some((d) => l.name.startsWith(`${d}/`));
    ops.push({ op: "remove-link", name: l.name, ...(toDirectory ? { toDirectory } : {}), ...(insideReplacedDir ? { insideReplacedDir } : {}) });
    removed.add(l.name);
  }

  const copied: string[] = [];
  const madeDirs = new Set<string>();
  const oldClean = new Set(state.clean);
  /** Whether /etc/DIR will be a directory once its parents are made. */
  /** Names where a directory replaces a copy or direct link of ours ("file-to-dir"). */
  const replacedByDir = new Set<string>();
  /** Whether `name` is below one of those: what the old link led to says nothing of it (it starts empty). */
  const belowReplaced = (name: string): boolean => {
    if (replacedByDir.size === 0) return false;
    for (let p = parentName(name); p !== ""; p = parentName(p)) if (replacedByDir.has(p)) return true;
    return false;
  };
  const dirUsable = (dir: string): "yes" | "make" | "unlink" | "replace" | "blocked" | "store" => {
    if (madeDirs.has(dir)) return "yes";
    if (belowReplaced(dir)) return "make";
    const s = state.nodes.get(dir);
    // A link into /etc/static the walk did not report (under /etc/nixos, which it never enters)
    // where the tree has a directory: ours, replaced by it (a mkdir there failed at every run).
    if (s?.type === "link" && intoStatic(s.linkTarget!) && !removed.has(dir)) return "unlink";
    if (!s || s.type === "none" || removed.has(dir) || (s.type === "link" && intoStatic(s.linkTarget!))) return "make";
    if (s.type === "dir") return "yes";
    // A copy or a direct link of ours where the new tree has a directory: replaced by it (else it
    // would block that directory's entries at every run, and .clean would forget it).
    if ((s.type === "file" || s.type === "link") && oldClean.has(dir) && tree.byName.get(dir)?.kind === "directory") return "replace";
    // A link into the store: nothing may be written below it (the applier refuses it too), so
    // its entries are refused here, by name, and --dry says so.
    if (s.type === "link" && s.leadsToDir) return s.intoStore ? "store" : "yes";
    return "blocked";
  };
  /** The directories to sweep (see EtcPlan.dirs): of those this run manages, where loading saw a temporary or did not list. */
  const sweep = new Set<string>();
  const consider = (dir: string) => { if (!state.listedDirs?.has(dir) || state.dirsWithTemps?.has(dir)) sweep.add(dir); };
  consider("");
  /** The parent of the entry before: entries come directory by directory, so most share it. */
  let lastParent: string | undefined;
  /** Makes the parents of `name`, whose parent directory is not in madeDirs yet; or why it cannot be set up. */
  const ensureParents = (name: string): string | undefined => {
    // Up to the nearest made directory: madeDirs holds a directory only once all its parents are.
    const chain: string[] = [];
    for (let p = parentName(name); p !== "" && !madeDirs.has(p); p = parentName(p)) chain.unshift(p);
    for (const dir of chain) {
      const u = dirUsable(dir);
      if (u === "blocked") return `error: not setting up ${q(name)}: ‘/etc/${dir}’ is in the way and is not a directory`;
      if (u === "store") return `error: not setting up ${q(name)}: ‘/etc/${dir}’ is a link into the Nix store; nothing is written there`;
      if (u === "make") { ops.push({ op: "mkdir", name: dir }); }
      if (u === "unlink") {
        ops.push({ op: "remove-link", name: dir, toDirectory: true });
        removed.add(dir);
      }
      if (u === "replace") {
        ops.push({ op: "file-to-dir", name: dir, was: state.nodes.get(dir)!.type === "file" ? "file" : "link" });
        replacedByDir.add(dir);
      }
      madeDirs.add(dir);
    }
    return undefined;
  };

  /** Copies' owner specs (a few, shared by many copies: `+0`, `root`, a service's user) as ownerId answered them. */
  const userIds = new Map<string, OwnerId>();
  const groupIds = new Map<string, OwnerId>();

  for (const e of tree.entries) {
    if (e.kind === "file") continue;
    const parent = e.dir;
    if (parent !== lastParent) { consider(parent); lastParent = parent; }
    if (e.kind === "directory") continue;
    if (e.kind === "invalid") {
      ops.push({ op: "error", name: e.name, message: `error: not setting up ${q(e.name)}: ${e.reason}` });
      if (oldClean.has(e.name)) copied.push(e.name);
      continue;
    }
    if (e.name === "resolv.conf" && opts.inNixosEnter) {
      if (oldClean.has(e.name)) copied.push(e.name);
      continue;
    }
    let uid = 0;
    let gid = 0;
    if (e.kind === "copy") {
      // Looked up, and resolved only the first time a spec is met.
      const u = userIds.get(e.user) ?? ownerId(e.user, state.ids.users, userIds);
      const g = groupIds.get(e.group) ?? ownerId(e.group, state.ids.groups, groupIds);
      if (typeof u !== "number" || typeof g !== "number") {
        const what = u === "unknown" ? `unknown user ${shownSpec(e.user)} in ${e.name}.uid`
          : g === "unknown" ? `unknown group ${shownSpec(e.group)} in ${e.name}.gid`
          // (uid_t)-1 would leave the owner as it is, larger ones fail at chown: refused here, not at apply.
          : u === "range" ? `user ${shownSpec(e.user)} in ${e.name}.uid is out of range (0 to 4294967294)`
          : `group ${shownSpec(e.group)} in ${e.name}.gid is out of range (0 to 4294967294)`;
        ops.push({ op: "error", name: e.name, message: `error: not setting up ${q(e.name)}: ${what}` });
        if (oldClean.has(e.name)) copied.push(e.name);
        continue;
      }
      uid = u;
      gid = g;
    }
    // A directory is in madeDirs only once all its parents are: siblings need no second walk up.
    const blocked = parent === "" || madeDirs.has(parent) ? undefined : ensureParents(e.name);
    if (blocked) { ops.push({ op: "error", name: e.name, message: blocked }); continue; }

    const s = replacedByDir.size > 0 && belowReplaced(e.name) ? { type: "none" as const } : state.nodes.get(e.name) ?? { type: "none" as const };
    let current = s;
    if (s.type === "dir") {
      if (!s.onlyStatic) {
        const failure = e.kind === "copy" ? `could not create target /etc/${e.name}` : `could not create symlink /etc/${e.name}`;
        ops.push({ op: "warn", message: userFilesWarning(e.name) }, { op: "warn", message: failure });
        continue;
      }
      ops.push({ op: "replace-dir", name: e.name, ...(e.kind === "copy" ? { copy: true } : {}) });
      current = { type: "none" };
    } else if (s.type === "link" && s.leadsToDir && !intoStatic(s.linkTarget!)) {
      // setup-etc.pl warns here too, although replacing a link always works.
      ops.push({ op: "warn", message: userFilesWarning(e.name) });
    }

    if (e.kind === "link" || e.kind === "direct") {
      const target = e.kind === "link" ? STATIC_PREFIX + e.name : e.source;
      if (e.kind === "direct") copied.push(e.name);
      const unchanged = current.type === "link" && current.linkTarget === target && !removed.has(e.name);
      if (!unchanged) {
        const foreign = isForeign(current, e.name, oldClean);
        ops.push({ op: "link", name: e.name, target, direct: e.kind === "direct", ...(foreign ? { foreign } : {}) });
      }
      continue;
    }

    // A copy.
    copied.push(e.name);
    const old = current.type === "file" ? current.content : undefined;
    const same = old !== undefined && old.equals(e.content) && current.mode === e.mode && current.uid === uid && current.gid === gid;
    if (!same) {
      const foreign = isForeign(current, e.name, oldClean);
      ops.push({ op: "copy", name: e.name, content: e.content, mode: e.mode, uid, gid, user: e.user, group: e.group, old, ...(foreign ? { foreign } : {}) });
    }
  }

  // Every name of the tree (sidecars and directories too) is never "obsolete". Under a name the
  // new tree makes a link (into /etc/static, or a direct one to anywhere) or a copy, the old copy
  // went with the directory replaced there, and what a link leads to is not ours to remove.
  const underDeclaredLink = (name: string): boolean => {
    for (let p = parentName(name); p !== ""; p = parentName(p)) {
      const kind = tree.byName.get(p)?.kind;
      if (kind === "link" || kind === "direct" || kind === "copy") return true;
    }
    return false;
  };
  for (const name of state.clean) {
    if (!tree.byName.has(name) && !underDeclaredLink(name)) ops.push({ op: "remove-file", name });
  }
  const cleanText = formatClean(copied);
  // Each entry adds its name at most once and the tree's names are unique: no duplicate to drop.
  ops.push({ op: "clean", names: copied, changed: cleanText !== state.cleanText });
  // /etc/NIXOS made once every entry is in place: also when the old tree declared it (a link into
  // /etc/static, or a copy) and this run removes it as obsolete, as setup-etc.pl recreates it last.
  const tagRemoved = removed.has("NIXOS") || (oldClean.has("NIXOS") && !tree.byName.has("NIXOS"));
  // Not when this plan puts the tree's own /etc/NIXOS there (a link, a copy, a directory of its
  // entries): the tag would find it (EEXIST), and --dry would announce a file never made.
  const tagPlaced = () => ops.some((o) => "name" in o && o.name === "NIXOS"
    && (o.op === "link" || o.op === "copy" || o.op === "mkdir" || o.op === "file-to-dir" || (o.op === "remove-link" && o.toDirectory === true)));
  // Looked for only when a tag is due: a run over a set-up /etc (every boot) scans no operations.
  if ((!state.hasTag || tagRemoved) && !tagPlaced()) ops.push({ op: "tag" });
  // Where the walk of /etc listed a directory and saw no temporary, there is none to sweep. The
  // static links were found by that walk, in directories it listed: only temporaries there count.
  if (state.listedDirs === undefined || (state.dirsWithTemps?.size ?? 1) > 0) {
    for (const l of state.staticLinks) consider(parentName(l.name));
  }
  // As loading listed them (a run of names of one directory once: considering again would change nothing).
  for (const dir of state.cleanDirs) consider(dir);
  // Every directory of /etc where the walk saw a temporary of ours, managed by this tree or not:
  // a run killed while a directory was replaced by a link leaves one where no later tree looks.
  for (const dir of state.dirsWithTemps ?? []) sweep.add(dir);
  return { tree: tree.path, ops, dirs: [...sweep], seen: { clean: state.cleanText, static: state.staticTarget } };
}

/** The lines dry-activate prints for a plan (nothing for a no-op). */
export function planLines(plan: EtcPlan, opts: { diff: boolean }): string[] {
  const lines: string[] = [];
  for (const op of plan.ops) {
    if (op.op === "clean" && !op.changed) continue;
    lines.push(opLine(op));
    if (op.op === "copy" && opts.diff) lines.push(...copyDiff(op));
  }
  return lines;
}
