/** /etc/passwd: one `name:password:uid:gid:gecos:home:shell` line per user. */

/** A line of /etc/passwd. `uid`/`gid` are kept as text when not numeric, so nothing is lost. */
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

/** Parses /etc/passwd text; empty lines are dropped, a later line with the same name wins. */
export function parsePasswd(text: string): PasswdEntry[] {
  const byName = new Map<string, PasswdEntry>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const f = line.split(":");
    const uid = parseInt(f[2]!, 10);
    byName.set(f[0]!, {
      name: f[0]!, password: f[1] ?? "", uid: Number.isNaN(uid) ? -1 : uid, gid: f[3] ?? "",
      description: f[4] ?? "", home: f[5] ?? "", shell: f.slice(6).join(":"),
    });
  }
  return [...byName.values()];
}

/** Serializes entries in the given order. */
export function serializePasswd(entries: readonly PasswdEntry[]): string {
  let out = "";
  for (const u of entries) out += `${u.name}:${u.password}:${u.uid}:${u.gid}:${u.description}:${u.home}:${u.shell}\n`;
  return out;
}
