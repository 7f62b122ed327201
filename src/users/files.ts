/**
 * The files the users step owns, relative to the root: its databases in /etc and its state in
 * /var/lib/nixos. A fact shared with the etc step, which must leave the temporaries of these files
 * in /etc to the users step; it imports nothing, so the etc step reads it without the users modules.
 */
import { basename, dirname } from "node:path";

/** The state directory, relative to the root. */
export const STATE_DIR = "var/lib/nixos";

/** The files the users step reads and writes, relative to the root. */
export const FILES = {
  group: "etc/group",
  passwd: "etc/passwd",
  shadow: "etc/shadow",
  subuid: "etc/subuid",
  subgid: "etc/subgid",
  uidMap: `${STATE_DIR}/uid-map`,
  gidMap: `${STATE_DIR}/gid-map`,
  declarativeUsers: `${STATE_DIR}/declarative-users`,
  declarativeGroups: `${STATE_DIR}/declarative-groups`,
  autoSubUidMap: `${STATE_DIR}/auto-subuid-map`,
} as const;

/** One of the users step's files. */
export type FileKey = keyof typeof FILES;

/** The in-root directories the users step writes its files into (`/etc`, `/var/lib/nixos`), each with its file names. */
export function managedDirs(): Map<string, Set<string>> {
  const dirs = new Map<string, Set<string>>();
  for (const k of Object.keys(FILES) as FileKey[]) {
    const dir = `/${dirname(FILES[k])}`;
    if (!dirs.has(dir)) dirs.set(dir, new Set());
    dirs.get(dir)!.add(basename(FILES[k]));
  }
  return dirs;
}
