/** /etc/subuid and /etc/subgid: `name:start:count` lines, see subuid(5). */

/** One subordinate ID range. */
export interface SubIdEntry {
  name: string;
  start: number;
  count: number;
}

/** Parses subuid/subgid text; blank and malformed lines are dropped. */
export function parseSubId(text: string): SubIdEntry[] {
  const out: SubIdEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^([^:]+):(\d+):(\d+)$/.exec(line);
    if (m) out.push({ name: m[1]!, start: +m[2]!, count: +m[3]! });
  }
  return out;
}

/**
 * Serializes entries. Like update-users-groups.pl, the file always ends in a newline, so an empty
 * database is a single empty line.
 */
export function serializeSubId(entries: readonly SubIdEntry[]): string {
  const lines: string[] = [];
  for (let i = 0; i < entries.length; i++) lines.push(`${entries[i]!.name}:${entries[i]!.start}:${entries[i]!.count}`);
  return lines.join("\n") + "\n";
}
