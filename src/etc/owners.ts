/**
 * Owners of copied files. A `.uid`/`.gid` sidecar holds a name or `+N`; names are resolved
 * against the TARGET root's etc/passwd and etc/group (in the initrd, /sysroot's, never the
 * initrd's own), as they stand once users and groups are written.
 */

import { glibcId } from "../text/id-field.ts";

/** Name -> id tables read from passwd(5) and group(5) text. */
export interface IdTables {
  users: Map<string, number>;
  groups: Map<string, number>;
}

/** Parses `name:x:id:...` lines, the ID as glibc reads it; other lines (comments, NIS `+` entries) are ignored. */
export function parseIdFile(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split("\n")) {
    const f = line.split(":");
    const id = glibcId(f[2]);
    if (f.length < 3 || f[0] === "" || id === undefined) continue;
    if (!ids.has(f[0]!)) ids.set(f[0]!, id);
  }
  return ids;
}

/** Builds the tables from passwd and group text. */
export function idTables(passwd: string, group: string): IdTables {
  return { users: parseIdFile(passwd), groups: parseIdFile(group) };
}

/** The largest owner id chown(2) can set: uid_t is 32 bits and (uid_t)-1 means "leave unchanged". */
const MAX_OWNER_ID = 0xfffffffe;

/** `+N`: an id given as a number. */
const PLUS_ID = /^\+\d+$/;

/** Whether `spec` is `+N`: the same id whatever the passwd and group files say. */
export function isFixedOwner(spec: string): boolean {
  return PLUS_ID.test(spec);
}

/**
 * Resolves an owner spec: `+N` is the number N; otherwise a name looked up in `table`; a bare
 * number that names nobody is taken as a number (as chown(1) does). Undefined when unknown.
 * The number may be out of range (see ownerInRange): planning refuses it, naming the entry.
 */
export function resolveOwner(spec: string, table: Map<string, number>): number | undefined {
  if (PLUS_ID.test(spec)) return Number(spec.slice(1));
  const named = table.get(spec);
  if (named !== undefined) return named;
  if (/^\d+$/.test(spec)) return Number(spec);
  return undefined;
}

/** Whether `id` is an owner chown(2) can set (0 to 4294967294). */
export function ownerInRange(id: number): boolean {
  return Number.isSafeInteger(id) && id >= 0 && id <= MAX_OWNER_ID;
}

/**
 * An owner spec as it may appear in a message: a plausible user or group name or `+N` as it is,
 * anything else only described, so that a sidecar's content is never printed unless it is one.
 */
export function shownSpec(spec: string): string {
  return /^(?:\+?\d{1,20}|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?)$/.test(spec) ? `‘${spec}’` : "(not a user or group name, nor +N)";
}
