/** /etc/group: one `name:password:gid:member,member` line per group. */
import { joinWithVerbatim, restOf, splitDatabase, type DatabaseFile } from "./verbatim.ts";

/** A line of /etc/group. */
export interface GroupEntry {
  name: string;
  password: string;
  gid: number;
  members: string[];
}

/**
 * Parses /etc/group text: the group records (a later line with the same name wins) and the lines
 * that are not records (NIS compat, comments, a non-numeric GID), kept verbatim; empty lines dropped.
 */
export function parseGroupFile(text: string): DatabaseFile<GroupEntry> {
  return splitDatabase(text, 2, (f, gid) => {
    const members = restOf(f, 3);
    return { name: f[0]!, password: f[1] ?? "", gid, members: members === "" ? [] : members.split(",") };
  });
}

/** The group records of /etc/group text. */
export function parseGroup(text: string): GroupEntry[] {
  return parseGroupFile(text).entries;
}

/** Serializes entries in the given order, with the old file's verbatim lines in their places. */
export function serializeGroup(entries: readonly GroupEntry[], old?: DatabaseFile<GroupEntry>): string {
  const names: string[] = [];
  const texts: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const g = entries[i]!;
    names.push(g.name);
    texts.push(`${g.name}:${g.password}:${g.gid}:${g.members.join(",")}`);
  }
  return joinWithVerbatim(names, texts, old ?? { verbatim: [], names: [] });
}
