/**
 * Paths inside a target root, resolved the way the kernel resolves them for a process chrooted
 * there (openat2's RESOLVE_IN_ROOT): in the initrd the root is `/sysroot`, and an absolute symlink
 * found there (`/etc/static`, a store link, `/etc` itself) means `/sysroot/...`, never the initrd's
 * own tree; `..` never climbs above the root. Every path that etc and users touch under `--root`
 * goes through here; test/unit/fs/root.test.ts checks the answers against openat2 itself.
 */
import { lstatSync, readlinkSync } from "node:fs";

/** Whether `root` is this machine's own `/` (no confinement to apply). */
export function isHostRoot(root: string): boolean {
  return /^\/+$/.test(root);
}

/** Joins a root and an absolute in-root path as a plain string (no resolution). */
export function hostPath(root: string, abs: string): string {
  const r = root.endsWith("/") ? root.replace(/\/+$/, "") : root;
  return r + (abs.startsWith("/") ? abs : `/${abs}`);
}

/** The inverse of hostPath: the in-root path (`/a/b`) of `host`, a host path below `root`. */
export function inRootPath(root: string, host: string): string {
  return host.slice(root.replace(/\/+$/, "").length) || "/";
}

/**
 * Resolves the absolute in-root path `abs` to a host path, following symlinks the way the kernel
 * would inside a chroot at `root`. The last component is followed only when `followLast` is set.
 * Components that do not exist are kept as they are.
 */
export function resolveInRoot(root: string, abs: string, followLast = true): string {
  return hostPath(root, canonicalInRoot(root, abs, followLast));
}

/**
 * lstat/readlink answers memoised while planning: the planner resolves thousands of paths sharing
 * the same prefixes (/etc, /etc/static, the store path of the etc tree), which is most of a no-op's
 * system calls. Only set inside `withResolveCache`, i.e. while nothing writes to the root; the
 * applier, which changes links and directories as it goes, always asks the file system.
 */
let linkCache: {
  isLink: Map<string, boolean>;
  /** Paths an lstat of the resolution found to be regular files (their readers skip a second one). */
  regular: Set<string>;
  /** Paths an lstat of the resolution found nothing at (ENOENT, ENOTDIR). */
  missing: Set<string>;
  target: Map<string, string>;
  canonical: Map<string, string>;
  derived: Map<string, unknown>;
} | undefined;

/** Runs `read` (which must not change the root) with path resolution memoised; nests. */
export function withResolveCache<T>(read: () => T): T {
  if (linkCache) return read();
  linkCache = { isLink: new Map(), regular: new Set(), missing: new Set(), target: new Map(), canonical: new Map(), derived: new Map() };
  try {
    return read();
  } finally {
    linkCache = undefined;
  }
}

/** Whether `here` (a host path) is a symlink; false when missing. Memoised inside withResolveCache. */
export function isSymlinkAt(here: string): boolean {
  const cached = linkCache?.isLink.get(here);
  if (cached !== undefined) return cached;
  let isLink = false;
  try {
    const st = lstatSync(here, { throwIfNoEntry: false });
    if (st !== undefined) {
      isLink = st.isSymbolicLink();
      if (st.isFile()) linkCache?.regular.add(here);
    } else {
      linkCache?.missing.add(here);
    }
  } catch (e) {
    // Missing behind a file (ENOTDIR): kept literally, as a missing one.
    if ((e as NodeJS.ErrnoException).code === "ENOTDIR") linkCache?.missing.add(here);
  }
  linkCache?.isLink.set(here, isLink);
  return isLink;
}

/**
 * Whether the lstat that resolved `here` (inside withResolveCache) found a regular file: a reader
 * of the resolved path can skip its own (src/fs/read.ts `knownRegular`; its fstat still checks).
 */
export function knownRegularAt(here: string): boolean {
  return linkCache?.regular.has(here) ?? false;
}

/** Whether the lstat that resolved `here` (inside withResolveCache) found nothing there. */
export function knownMissingAt(here: string): boolean {
  return linkCache?.missing.has(here) ?? false;
}

/** Records that a listing the caller made typed `here` a regular file (no effect outside withResolveCache). */
export function noteRegularAt(here: string): void {
  if (!linkCache) return;
  linkCache.isLink.set(here, false);
  linkCache.regular.add(here);
}

/** What is known without a system call: whether `here` is a symlink, or undefined when not yet asked. */
export function knownSymlinkAt(here: string): boolean | undefined {
  return linkCache?.isLink.get(here);
}

/**
 * `compute()`, memoised under `key` inside withResolveCache (for answers derived from the root's
 * links, e.g. where a parent directory of many entries resolves to); computed every time outside.
 */
export function memoised<T>(key: string, compute: () => T): T {
  if (!linkCache) return compute();
  if (linkCache.derived.has(key)) return linkCache.derived.get(key) as T;
  const value = compute();
  linkCache.derived.set(key, value);
  return value;
}

/** Records what an lstat the caller made anyway found at `here` (no effect outside withResolveCache). */
export function noteSymlinkAt(here: string, isLink: boolean): void {
  linkCache?.isLink.set(here, isLink);
}

/** Records a symlink at `here` to `target` that the caller read itself (no effect outside withResolveCache). */
export function noteLinkTargetAt(here: string, target: string): void {
  if (!linkCache) return;
  linkCache.isLink.set(here, true);
  linkCache.target.set(here, target);
}

/** readlink of `here` (a host path); throws as readlinkSync. Memoised inside withResolveCache. */
export function linkTargetAt(here: string): string {
  const cached = linkCache?.target.get(here);
  if (cached !== undefined) return cached;
  const target = readlinkSync(here);
  linkCache?.target.set(here, target);
  return target;
}

/** An empty or `.` component, or a trailing slash. */
const NOT_NORMAL = /\/\/|\/\.(?:\/|$)|.\/$/;

/** `/a/./b//c` -> `/a/b/c` (`..` kept: it is applied to the resolved parent, as the kernel does). */
function normalized(abs: string): string {
  if (abs.startsWith("/") && !NOT_NORMAL.test(abs)) return abs;
  const parts = abs.split("/").filter((p) => p !== "" && p !== ".");
  return parts.length === 0 ? "/" : `/${parts.join("/")}`;
}

/** Like resolveInRoot, but returns the resolved path as seen from inside the root. */
export function canonicalInRoot(root: string, abs: string, followLast = true): string {
  const r = root.endsWith("/") ? root.replace(/\/+$/, "") : root;
  return canonical(r, normalized(abs), followLast, { hops: 0, abs });
}

/**
 * resolveInRoot for a path root creates or chowns something at (a home and its parents): a
 * symlink is followed only where it stands in a directory owned by root. A link in a user's
 * directory is that user's to point anywhere (`/home/alice/x -> /etc`), so following it would let
 * the user choose where root makes a directory and whom it gives it to (systemd-tmpfiles refuses
 * such "unsafe path transitions" too). Throws an Error (code EPERM) naming the link and its owner.
 */
export function resolveInRootTrusted(root: string, abs: string): string {
  const r = root.endsWith("/") ? root.replace(/\/+$/, "") : root;
  const onLink = (dir: string, here: string) => {
    const owner = lstatSync(r + dir).uid;
    if (owner !== 0) throw Object.assign(new Error(`${here} is a symbolic link in a directory of user ${owner}; not followed`), { code: "EPERM" });
  };
  return hostPath(root, canonical(r, normalized(abs), true, { hops: 0, abs, onLink }));
}

/**
 * Resolves a normalized path: its parent (fully, memoised inside withResolveCache, so the many
 * entries of one directory resolve its prefix once), then its last component. `r` is the root
 * without a trailing slash; `walk` counts the links followed, as the kernel's limit of 40.
 */
function canonical(r: string, path: string, follow: boolean, walk: { hops: number; abs: string; onLink?: (dir: string, here: string) => void }): string {
  if (path === "/") return "/";
  const key = `${follow ? "f" : "l"}${r}\0${path}`;
  // A walk that judges each link followed asks the file system, not the memo.
  const known = walk.onLink ? undefined : linkCache?.canonical.get(key);
  if (known !== undefined) return known;
  const cut = path.lastIndexOf("/");
  const dir = canonical(r, cut === 0 ? "/" : path.slice(0, cut), true, walk);
  const base = path.slice(cut + 1);
  let result: string;
  if (base === "..") {
    // Applied to the resolved parent; `..` of the root is the root.
    result = dir.slice(0, dir.lastIndexOf("/")) || "/";
  } else {
    const here = dir === "/" ? `/${base}` : `${dir}/${base}`;
    if (follow && isSymlinkAt(r + here)) {
      if (++walk.hops > 40) throw Object.assign(new Error(`too many levels of symbolic links: ${walk.abs}`), { code: "ELOOP" });
      walk.onLink?.(dir, here);
      const target = linkTargetAt(r + here);
      result = canonical(r, normalized(target.startsWith("/") ? target : `${dir}/${target}`), true, walk);
    } else {
      result = here;
    }
  }
  if (!walk.onLink) linkCache?.canonical.set(key, result);
  return result;
}

/** A `.`/empty component, a trailing slash, or a `..` component. */
const NOT_CANONICAL = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

/**
 * Why `abs` is refused as a path that a spec names inside the root (a home directory, a password
 * file), or undefined when it is absolute and in normal form (no `.`, `..`, `//`, trailing `/`) and,
 * unless `allowRoot`, not `/` itself. Such a path can still cross symlinks; resolveInRoot keeps it
 * inside the root.
 */
export function badInRootPath(abs: string, allowRoot = false): string | undefined {
  if (abs === "") return "is empty";
  if (!abs.startsWith("/")) return "is not an absolute path";
  if (abs.includes("\0")) return "contains a NUL byte";
  if (abs === "/") return allowRoot ? undefined : "is the root directory itself";
  if (NOT_CANONICAL.test(abs)) return "is not in normal form (`.`, `..`, `//` or a trailing `/`)";
  return undefined;
}

/**
 * `abs` in normal form, when only spelling keeps it from it (`//`, a `.` component, a trailing
 * `/`: NixOS's path-typed options accept those, and they name the same directory), or why it is
 * refused as badInRootPath says: a `..` component is refused, never folded, since what it
 * names depends on the links before it.
 */
export function normalInRootPath(abs: string, allowRoot = false): { path: string } | { why: string } {
  const why = badInRootPath(abs, allowRoot);
  if (why === undefined) return { path: abs };
  if (!abs.startsWith("/") || abs.includes("\0")) return { why };
  const parts = abs.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) return { why: "has a `..` component" };
  const path = `/${parts.join("/")}`;
  const again = badInRootPath(path, allowRoot);
  return again === undefined ? { path } : { why: again };
}
