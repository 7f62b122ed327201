/**
 * Making and opening the entries of a directory by descriptor rather than by name. A path such as
 * `/home/alice/x/svc` can have a parent owned by a user, who may swap it for a symlink after
 * stagehand resolved it; root's mkdir, chown and chmod would then act wherever the link leads. A
 * directory opened with O_NOFOLLOW and checked by the kernel's own name for it (`/proc/self/fd/N`)
 * is the one that was resolved, and `/proc/self/fd/N/NAME` is looked up from that open directory
 * (the kernel's mkdirat/openat), whatever happens to the names above it afterwards.
 */
import { closeSync, constants, openSync, readlinkSync, realpathSync } from "node:fs";

/** Why a directory could not be opened as resolved: an errno name, or REPLACED. */
export const REPLACED = "REPLACED";

/**
 * How the kernel names the host paths under `root` in `/proc/self/fd`: with the root's real path
 * in place of `root` (which may itself reach its directory through links).
 */
export function kernelNames(root: string): (host: string) => string {
  const prefix = root.replace(/\/+$/, "");
  const real = realpathSync(root).replace(/\/+$/, "");
  // The root's own `/` resolves to `ROOT/`; the kernel names it `ROOT`: without the trailing
  // slash, a home directly below `/` (NixOS's /root) is not taken for a replaced parent.
  return (host) => (real + host.slice(prefix.length)).replace(/(?<=.)\/+$/, "") || "/";
}

/**
 * Opens the directory at host path `here` without following a link there and checks that the
 * kernel's name for it is `kernelName`. `here` must come from an in-root resolution (no link in
 * it), so any other name means a directory above it was replaced meanwhile. Returns the
 * descriptor, or why not: an errno name (ENOENT; ELOOP, a link at `here` itself; ENOTDIR) or
 * REPLACED.
 */
export function openCheckedDirectory(here: string, kernelName: string): number | string {
  let fd: number;
  try {
    fd = openSync(here, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
  let name: string | undefined;
  try { name = readlinkSync(`/proc/self/fd/${fd}`); } catch { /* no /proc: nothing vouches for it */ }
  if (name === kernelName) return fd;
  closeSync(fd);
  return REPLACED;
}

/** The path that reaches `name` in the directory open at `dirFd` through the descriptor, not by name. */
export function entryAt(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}
