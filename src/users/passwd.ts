/** /etc/passwd: one `name:password:uid:gid:gecos:home:shell` line per user. */
import { joinWithVerbatim, restOf, splitDatabase, type DatabaseFile } from "./verbatim.ts";

/** A line of /etc/passwd. `gid` is kept as text when not numeric, so nothing is lost. */
export interface PasswdEntry {
  name: string;
  /** Almost always `x` (the hash lives in /etc/shadow). */
  password: string;
  uid: number;
  gid: string;
  description: string;
  home: string;
  shell: string;
}

/**
 * Parses /etc/passwd text: the user records (a later line with the same name wins) and the lines
 * that are not records (NIS compat, comments, a non-numeric UID), kept verbatim; empty lines dropped.
 */
export function parsePasswdFile(text: string): DatabaseFile<PasswdEntry> {
  return splitDatabase(text, 2, (f, uid) => ({
    name: f[0]!, password: f[1] ?? "", uid, gid: f[3] ?? "",
    description: f[4] ?? "", home: f[5] ?? "", shell: restOf(f, 6),
  }));
}

/** The user records of /etc/passwd text. */
export function parsePasswd(text: string): PasswdEntry[] {
  return parsePasswdFile(text).entries;
}

/** Serializes entries in the given order, with the old file's verbatim lines in their places. */
export function serializePasswd(entries: readonly PasswdEntry[], old?: DatabaseFile<PasswdEntry>): string {
  const names: string[] = [];
  const texts: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const u = entries[i]!;
    names.push(u.name);
    texts.push(`${u.name}:${u.password}:${u.uid}:${u.gid}:${u.description}:${u.home}:${u.shell}`);
  }
  return joinWithVerbatim(names, texts, old ?? { verbatim: [], names: [] });
}
