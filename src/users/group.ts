/** /etc/group: one `name:password:gid:member,member` line per group. */

/** A line of /etc/group. */
export interface GroupEntry {
  name: string;
  password: string;
  gid: number;
  members: string[];
}

/** Parses /etc/group text; empty lines are dropped, a later line with the same name wins. */
export function parseGroup(text: string): GroupEntry[] {
  const byName = new Map<string, GroupEntry>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const f = line.split(":");
    const gid = parseInt(f[2]!, 10);
    const members = f.slice(3).join(":");
    byName.set(f[0]!, {
      name: f[0]!, password: f[1] ?? "", gid: Number.isNaN(gid) ? -1 : gid,
      members: members === "" ? [] : members.split(","),
    });
  }
  return [...byName.values()];
}

/** Serializes entries in the given order. */
export function serializeGroup(entries: readonly GroupEntry[]): string {
  let out = "";
  for (const g of entries) out += `${g.name}:${g.password}:${g.gid}:${g.members.join(",")}\n`;
  return out;
}
