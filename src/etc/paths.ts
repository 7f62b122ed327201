/**
 * Paths under a target root. In the initrd the root is `/sysroot`, and an absolute symlink found
 * there (`/etc/static`, a store link) means `/sysroot/...`, never the initrd's own tree; so every
 * symlink is resolved here, confined to the root, instead of by the kernel.
 */
import { lstatSync, readlinkSync } from "node:fs";

/** Where NixOS keeps the link to the current generation's etc tree, relative to /etc. */
export const STATIC = "static";

/** Why an entry name was refused, or undefined when it is a safe relative name under /etc. */
export function badEntryName(name: string): string | undefined {
  if (name === "") return "empty name";
  if (name.startsWith("/")) return "absolute name escapes /etc";
  if (/[\n\0]/.test(name)) return "name contains a newline or NUL (it would corrupt /etc/.clean)";
  for (const part of name.split("/")) {
    if (part === "..") return "name escapes /etc";
    if (part === "" || part === ".") return "name is not in normal form";
  }
  return undefined;
}

/** Joins a root and an absolute in-root path as a plain string (no resolution). */
export function hostPath(root: string, abs: string): string {
  const r = root.replace(/\/+$/, "");
  return r + (abs.startsWith("/") ? abs : `/${abs}`);
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
let linkCache: { isLink: Map<string, boolean>; target: Map<string, string> } | undefined;

/** Runs `read` (which must not change the root) with path resolution memoised; nests. */
export function withResolveCache<T>(read: () => T): T {
  if (linkCache) return read();
  linkCache = { isLink: new Map(), target: new Map() };
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
  try { isLink = lstatSync(here).isSymbolicLink(); } catch { /* missing: kept literally */ }
  linkCache?.isLink.set(here, isLink);
  return isLink;
}

/** Records what an lstat the caller made anyway found at `here` (no effect outside withResolveCache). */
export function noteSymlinkAt(here: string, isLink: boolean): void {
  linkCache?.isLink.set(here, isLink);
}

/** readlink of `here` (a host path); throws as readlinkSync. Memoised inside withResolveCache. */
export function linkTargetAt(here: string): string {
  const cached = linkCache?.target.get(here);
  if (cached !== undefined) return cached;
  const target = readlinkSync(here);
  linkCache?.target.set(here, target);
  return target;
}

/** Like resolveInRoot, but returns the resolved path as seen from inside the root. */
export function canonicalInRoot(root: string, abs: string, followLast = true): string {
  let rest = abs.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let hops = 0;
  while (rest.length > 0) {
    const part = rest.shift()!;
    if (part === "..") { done.pop(); continue; }
    const here = hostPath(root, "/" + [...done, part].join("/"));
    const isLink = isSymlinkAt(here);
    if (isLink && (rest.length > 0 || followLast)) {
      if (++hops > 40) throw Object.assign(new Error(`too many levels of symbolic links: ${abs}`), { code: "ELOOP" });
      const target = linkTargetAt(here);
      const parts = target.split("/").filter((p) => p !== "" && p !== ".");
      if (target.startsWith("/")) done.length = 0;
      rest = [...parts, ...rest];
      continue;
    }
    done.push(part);
  }
  return "/" + done.join("/");
}

/** The parent directory part of a relative name ("" for a top-level name). */
export function parentName(name: string): string {
  const i = name.lastIndexOf("/");
  return i < 0 ? "" : name.slice(0, i);
}
