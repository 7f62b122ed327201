/**
 * Owners of copied files. A `.uid`/`.gid` sidecar holds a name or `+N`; names are resolved
 * against the TARGET root's etc/passwd and etc/group (in the initrd, /sysroot's, never the
 * initrd's own), as they stand once users and groups are written.
 */

/** Name -> id tables read from passwd(5) and group(5) text. */
export interface IdTables {
  users: Map<string, number>;
  groups: Map<string, number>;
}

/** Parses `name:x:id:...` lines; other lines (comments, NIS `+` entries) are ignored. */
export function parseIdFile(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || f[0] === "" || !/^\d+$/.test(f[2]!)) continue;
    if (!ids.has(f[0]!)) ids.set(f[0]!, Number(f[2]));
  }
  return ids;
}

/** Builds the tables from passwd and group text. */
export function idTables(passwd: string, group: string): IdTables {
  return { users: parseIdFile(passwd), groups: parseIdFile(group) };
}

/**
 * Resolves an owner spec: `+N` is the number N; otherwise a name looked up in `table`; a bare
 * number that names nobody is taken as a number (as chown(1) does). Undefined when unknown.
 */
export function resolveOwner(spec: string, table: Map<string, number>): number | undefined {
  const plus = /^\+(\d+)$/.exec(spec);
  if (plus) return Number(plus[1]);
  const named = table.get(spec);
  if (named !== undefined) return named;
  if (/^\d+$/.test(spec)) return Number(spec);
  return undefined;
}
