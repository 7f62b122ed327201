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

/** Like resolveInRoot, but returns the resolved path as seen from inside the root. */
export function canonicalInRoot(root: string, abs: string, followLast = true): string {
  let rest = abs.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let hops = 0;
  while (rest.length > 0) {
    const part = rest.shift()!;
    if (part === "..") { done.pop(); continue; }
    const here = hostPath(root, "/" + [...done, part].join("/"));
    let isLink = false;
    try { isLink = lstatSync(here).isSymbolicLink(); } catch { /* missing: kept literally */ }
    if (isLink && (rest.length > 0 || followLast)) {
      if (++hops > 40) throw Object.assign(new Error(`too many levels of symbolic links: ${abs}`), { code: "ELOOP" });
      const target = readlinkSync(here);
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
