/**
 * Reading a generation's etc tree (`/nix/store/...-etc/etc`): every entry is a symlink to its
 * source, directories group them, and an entry `X` that is copied rather than linked has sidecar
 * files `X.mode` (an octal mode or `direct-symlink`), `X.uid` and `X.gid` (a name or `+N`).
 */
import { type Dirent, lstatSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { sortStringsBytewise } from "../text/bytewise.ts";
import { badEntryName, ownEtcName } from "./paths.ts";
import { badInRootPath, canonicalInRoot, hostPath, knownRegularAt, noteLinkTargetAt, noteSymlinkAt, resolveInRoot, withResolveCache } from "../fs/root.ts";
import { InputFileError, MAX_BYTES, readRegularFile, readRegularTextOptional } from "../fs/read.ts";

/**
 * Where an entry is: its name relative to /etc, and that name split at its last `/` (`dir` is ""
 * at the top). The walk knows both parts, so the loader and the planner, which go directory by
 * directory, need not split thousands of names again.
 */
export interface EntryName { name: string; dir: string; base: string }

/** How an entry of the etc tree is to appear in /etc. */
export type EtcEntry = EntryName & (
  | { kind: "directory" }
  /** Sidecars and other plain files: not linked, but part of the tree (never "obsolete"). */
  | { kind: "file" }
  /** `/etc/X -> /etc/static/X`. */
  | { kind: "link" }
  /** `/etc/X -> the store source` (`.mode` is `direct-symlink`). */
  | { kind: "direct"; source: string }
  /** A copy of the source with a mode and an owner. */
  | { kind: "copy"; mode: number; user: string; group: string; content: Buffer }
  /** An entry that cannot be set up; `/etc/X` is left as it is. */
  | { kind: "invalid"; reason: string });

/** A generation's etc tree, as read from the target root. */
export interface EtcTree {
  /** The tree's path inside the root, symlinks resolved (what `/etc/static` will point to). */
  path: string;
  /** Entries in walk order (a directory before its contents, names sorted bytewise). */
  entries: EtcEntry[];
  /** Entries by name. */
  byName: Map<string, EtcEntry>;
  /** The names of the entries that are symlinks in the tree (what `-l "/etc/static/NAME"` finds, parents walked). */
  links: ReadonlySet<string>;
}

/** An octal mode's text (made once: a regular expression literal is a new object at every evaluation). */
const OCTAL = /^[0-7]{1,12}$/;

/**
 * A mode sidecar's octal mode. NixOS types `mode` as any string and the Perl script took `oct()` of
 * it, so any number of leading zeros is taken (`00644`, `04755`), up to 07777.
 */
function parseMode(text: string): number | undefined {
  if (!OCTAL.test(text)) return undefined;
  const mode = parseInt(text, 8);
  return mode <= 0o7777 ? mode : undefined;
}

/**
 * Reads one entry that has a `.mode` sidecar listed (a symlink of the tree named `base` in the
 * directory `dir` of the tree, at host path `dirHost`) with its sidecars, found by name in
 * `siblings` (that directory's listing); a sidecar that cannot be read makes it invalid. The walk
 * makes the many entries without sidecars plain links itself, without calling here.
 */
function readLinkEntry(root: string, treePath: string, name: string, dir: string, base: string, dirHost: string, siblings: ReadonlyMap<string, Dirent>): EtcEntry {
  try {
    return readLinkEntryOrThrow(root, treePath, name, dir, base, `${dirHost}/${base}`, siblings);
  } catch (e) {
    if (e instanceof InputFileError) return { name, dir, base, kind: "invalid", reason: e.message };
    // A system call's refusal (a link loop in the source's path, EACCES, …) is this entry's alone.
    const code = (e as NodeJS.ErrnoException)?.code;
    if (typeof code === "string") return { name, dir, base, kind: "invalid", reason: `cannot read the etc entry ${name}: ${(e as Error).message}` };
    throw e;
  }
}

/**
 * The sidecar `suffix` of the entry `name` (named `base`, at host path `host`, its parents
 * resolved inside the root) without its one trailing newline, or undefined when absent: one
 * missing from the directory listing `siblings` needs no failing open. The sidecar must be a
 * regular file of at most MAX_BYTES.sidecar: a symlink is refused, not followed (etc.nix always
 * writes sidecars as files, and a link could lead to any file of the root), and so are a FIFO, a
 * device or a directory, which would block the run, never end or abort it. One the listing typed
 * a regular file is opened without an lstat first (fstat still checks). Throws InputFileError.
 */
function sidecarOf(siblings: ReadonlyMap<string, Dirent>, name: string, base: string, host: string, suffix: string): string | undefined {
  const d = siblings.get(base + suffix);
  if (d === undefined) return undefined;
  const text = readRegularTextOptional(host + suffix, { maxBytes: MAX_BYTES.sidecar, what: `${suffix} of the etc entry ${name}`, noFollow: true, knownRegular: d.isFile() });
  return text !== undefined && text.endsWith("\n") ? text.slice(0, -1) : text;
}

function readLinkEntryOrThrow(root: string, treePath: string, name: string, dir: string, base: string, host: string, siblings: ReadonlyMap<string, Dirent>): EtcEntry {
  const modeText = sidecarOf(siblings, name, base, host, ".mode");
  if (modeText === undefined) return { name, dir, base, kind: "link" };
  if (modeText === "direct-symlink") return { name, dir, base, kind: "direct", source: readlinkSync(host) };
  const mode = parseMode(modeText);
  // The sidecar's text is not quoted: a refused input is never printed.
  if (mode === undefined) return { name, dir, base, kind: "invalid", reason: `${name}.mode is neither 'direct-symlink' nor an octal mode` };
  const { source, regular } = copySource(root, treePath, name, host);
  let content: Buffer;
  try {
    // The resolution's own lstat of the source's last component tells whether it is a regular file.
    content = readRegularFile(source, { maxBytes: MAX_BYTES.etcCopy, what: `the source of the etc entry ${name}`, noFollow: true, knownRegular: regular });
  } catch (e) {
    if (e instanceof InputFileError && e.problem === "not-regular") return { name, dir, base, kind: "invalid", reason: `cannot copy ${name}: its source is not a regular file` };
    return { name, dir, base, kind: "invalid", reason: e instanceof InputFileError ? e.message : `cannot read the source of ${name}: ${(e as Error).message}` };
  }
  // etc.nix always writes both; a hand-built tree without them gets root, as etc.nix's default.
  const user = sidecarOf(siblings, name, base, host, ".uid") ?? "+0";
  const group = sidecarOf(siblings, name, base, host, ".gid") ?? "+0";
  return { name, dir, base, kind: "copy", mode, user, group, content };
}

/** Where the directories of copy sources resolve (in-root path -> host path), while a tree is read. */
let sourceDirs: Map<string, string> | undefined;

/**
 * The host path of the source of the copied entry `name` (the tree's link at host path `host`),
 * resolved inside the root, and whether the lstat of its last component found a regular file.
 * The common target, an absolute path in normal form (a store path), has its directory resolved
 * once for all the entries there and its last component looked at with one lstat; a link there,
 * or any other target, goes through the general resolution.
 */
function copySource(root: string, treePath: string, name: string, host: string): { source: string; regular: boolean } {
  const target = readlinkSync(host);
  const cut = target.lastIndexOf("/");
  if (cut > 0 && badInRootPath(target) === undefined) {
    const dir = target.slice(0, cut);
    let dirHost = sourceDirs?.get(dir);
    if (dirHost === undefined) {
      dirHost = resolveInRoot(root, dir);
      sourceDirs?.set(dir, dirHost);
    }
    const here = `${dirHost}/${target.slice(cut + 1)}`;
    let st;
    // Missing, or not looked at (unreadable, a file for a parent): the read looks again and says
    // why, typed. (No options object: the lstat of each copy's source parses none.)
    try { st = lstatSync(here); } catch { return { source: here, regular: false }; }
    if (!st.isSymbolicLink()) return { source: here, regular: st.isFile() };
  }
  // The resolution starts at this link, already read.
  noteLinkTargetAt(host, target);
  const source = resolveInRoot(root, `${treePath}/${name}`);
  return { source, regular: knownRegularAt(source) };
}

/** The suffix of a sidecar's name. */
const SIDECAR = /\.(?:mode|uid|gid)$/;

/** Reads the etc tree at `etcPath` (a path inside `root`, symlinks allowed). */
export function readEtcTree(root: string, etcPath: string): EtcTree {
  // Resolution memoised for the walk (it nests in the planner's): what the walk's listings say
  // about a path is what a resolution of it answers, without another lstat.
  const outer = sourceDirs;
  sourceDirs = new Map();
  try {
    return withResolveCache(() => readEtcTreeNow(root, etcPath));
  } finally {
    sourceDirs = outer;
  }
}

function readEtcTreeNow(root: string, etcPath: string): EtcTree {
  // `path` has no symlink left in it, and the walk enters only what its listing typed a real
  // directory (noted so in the resolution cache), so the host paths joined below are what
  // resolveInRoot would answer for them.
  const path = canonicalInRoot(root, etcPath);
  const top = hostPath(root, path);
  let isDir: boolean;
  try {
    isDir = statSync(top).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`the etc tree: ${etcPath}: ${code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "a part of the path is not a directory" : (e as Error).message}`);
  }
  if (!isDir) throw new Error(`the etc tree: ${etcPath}: is not a directory`);
  const entries: EtcEntry[] = [];
  const byName = new Map<string, EtcEntry>();
  const links = new Set<string>();
  const walk = (rel: string, dirHost: string) => {
    const listed = readdirSync(dirHost, { withFileTypes: true });
    const siblings = new Map<string, Dirent>();
    const names: string[] = [];
    // A Dirent's name is a getter: read once.
    for (const d of listed) { const base = d.name; siblings.set(base, d); names.push(base); }
    // A newline in a name is looked for once per directory (badEntryName refuses such names),
    // in the names joined as the sort tests them.
    const joined = names.join("");
    const newline = joined.includes("\n");
    // Sorted as names (the engine's own sort, no comparator called per pair), then found by name.
    for (const base of sortStringsBytewise(names, joined)) {
      const d = siblings.get(base)!;
      const name = rel === "" ? base : `${rel}/${base}`;
      // A listed name is never empty, `.` or `..` and holds no `/` or NUL: of badEntryName's
      // reasons only a newline or, at the top, /etc's own names can apply (`rel` passed it already).
      const bad = newline && base.includes("\n") ? badEntryName(name) : rel === "" ? ownEtcName(base) : undefined;
      if (bad) {
        const refused: EtcEntry = { name, dir: rel, base, kind: "invalid", reason: bad };
        entries.push(refused);
        byName.set(name, refused);
        continue;
      }
      // The listing's file type spares an lstat per entry (asked only when the file system has none).
      let link = false;
      let dir = false;
      if (d.isSymbolicLink()) link = true;
      else if (d.isFile()) { /* a sidecar or another plain file */ }
      else if (d.isDirectory()) dir = true;
      else {
        const st = lstatSync(`${dirHost}/${base}`);
        link = st.isSymbolicLink();
        dir = st.isDirectory();
      }
      let entry: EtcEntry;
      /** A directory to walk once its own entry is in (its host path). */
      let sub: string | undefined;
      if (link) {
        links.add(name);
        // Most entries are plain links: no sidecar listed, nothing to read (and no call made).
        entry = siblings.has(`${base}.mode`) ? readLinkEntry(root, path, name, rel, base, dirHost, siblings) : { name, dir: rel, base, kind: "link" };
      } else if (dir && SIDECAR.test(base) && siblings.get(base.replace(SIDECAR, ""))?.isSymbolicLink()) {
        // A directory where an entry's sidecar should be: that entry is refused (readLinkEntry);
        // the directory itself is not set up as part of /etc.
        noteSymlinkAt(`${dirHost}/${base}`, false);
        entry = { name, dir: rel, base, kind: "file" };
      } else if (dir) {
        sub = `${dirHost}/${base}`;
        noteSymlinkAt(sub, false);
        entry = { name, dir: rel, base, kind: "directory" };
      } else {
        entry = { name, dir: rel, base, kind: "file" };
      }
      // By name as the walk goes (in walk order, as entries): no second pass over thousands.
      entries.push(entry);
      byName.set(name, entry);
      if (sub !== undefined) walk(name, sub);
    }
  };
  walk("", top);
  return { path, entries, byName, links };
}
