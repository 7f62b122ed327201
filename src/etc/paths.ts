/**
 * Names of entries under /etc. Paths under the target root are resolved by src/fs/root.ts.
 */

/**
 * The lock file of the runs that write /etc, in /etc (so per root, also for `--root /sysroot`),
 * root's and 0600: a lock on the /etc directory itself could be held by any user (flock needs only
 * read access), and one holding it would keep /etc on the old generation at every boot and switch.
 */
export const ETC_LOCK = ".setup-etc.lock";

/** The user databases' lock in /etc: shadow's and glibc's (`lckpwdf`), taken by the users step too. */
export const PWD_LOCK = ".pwd.lock";

/** Where NixOS keeps the link to the current generation's etc tree, relative to /etc. */
export const STATIC = "static";

/**
 * `/etc/static/`: what the target of a link into /etc/static starts with (`/etc/static/NAME`).
 * Made once: a template naming STATIC is built again at every use, and links are checked and
 * made by the thousand.
 */
export const STATIC_PREFIX = `/etc/${STATIC}/`;

/** The bookkeeping file of copies, `/etc/.clean` (src/etc/clean.ts reads and writes it). */
export const CLEAN = ".clean";

/**
 * Top-level names that are /etc's own bookkeeping, never an entry: an entry there would make
 * `.clean` or the `static` link a link into the store, or a lock (ours, the user databases') a
 * file others can hold.
 */
const OWN_NAMES: ReadonlySet<string> = new Set([CLEAN, STATIC, ETC_LOCK, PWD_LOCK]);

/** Why a top-level entry name is refused as /etc's own, or undefined. */
export function ownEtcName(name: string): string | undefined {
  return OWN_NAMES.has(name) ? `/etc/${name} is the activation's own bookkeeping, not an entry` : undefined;
}

/** What any refused name has: a newline or NUL, or an empty, `.` or `..` component (a leading `/` is one). */
const SUSPECT = /[\n\0]|(?:^|\/)\.{0,2}(?:\/|$)/;

/** Why an entry name was refused, or undefined when it is a safe relative name under /etc. */
export function badEntryName(name: string): string | undefined {
  // One scan for the many good names (and no call unless /etc's own); the reasons below for the few others.
  if (!SUSPECT.test(name)) return OWN_NAMES.has(name) ? ownEtcName(name) : undefined;
  if (name === "") return "empty name";
  if (name.startsWith("/")) return "absolute name escapes /etc";
  if (/[\n\0]/.test(name)) return "name contains a newline or NUL (it would corrupt /etc/.clean)";
  for (const part of name.split("/")) {
    if (part === "..") return "name escapes /etc";
    if (part === "" || part === ".") return "name is not in normal form";
  }
  return undefined;
}

/** The parent directory part of a relative name ("" for a top-level name). */
export function parentName(name: string): string {
  const i = name.lastIndexOf("/");
  return i < 0 ? "" : name.slice(0, i);
}
